import ArgumentParser
import BenchSupport
import TreeFixtures
import Foundation
import Logging
import ListTransport

#if canImport(Glibc)
    import Glibc
#endif

/// Runs the real filelistd on a generated tree and measures what an operator would:
/// time to READY, memory, change-to-list latency, and idle wakeups.
struct DaemonRun: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "daemon")

    @Option(help: "Entries in the generated tree.") var files = 1_000_000
    @Option(help: "Seed of the generated tree.") var seed: UInt64 = 1
    @Option(help: "Where generated trees are kept between runs.") var cache = "/var/tmp/quickmirror-bench"
    @Option(help: "The filelistd binary.") var tool = "../.build/release/filelistd"
    @Option(help: "Kernel events: fanotify or inotify.") var events = "fanotify"
    @Option(help: "filelistd --settle, subtracted from latencies.") var settle = 0.2
    @Option(help: "Seconds to watch the idle daemon for wakeups.") var idleSeconds = 10
    @Flag(help: "Also serve over HTTP and measure a change until it is announced on /events.") var http = false

    func run() throws {
        let tree = try MirrorTreeGenerator.cachedTree(entries: files, seed: seed, cache: cache)
        let scratch = "\(cache)/daemon-run-\(getpid())"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let list = "\(scratch)/fullfiletimelist"
        let notify = NotifyListener(path: "\(scratch)/notify")
        // Warm the caches, as for create-filelist.
        _ = try measure(["find", tree, "-printf", ""])

        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = [
            "--dir", tree, "-t", list, "--events", events, "--settle", "\(settle)", "--runtime-directory", scratch,
        ]
        if http { process.arguments! += ["--http", "127.0.0.1:0"] }
        process.environment = ["NOTIFY_SOCKET": notify.path, "PATH": "/usr/bin:/bin"]
        let log = "\(scratch)/filelistd.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: log)
        let started = ContinuousClock.now
        try process.run()
        defer {
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
        }
        guard let ready = notify.wait(for: "READY=1", timeout: 600) else { throw ValidationError("no READY=1") }
        let readySeconds = seconds(since: started)
        notify.drain()
        let entries = Int(ready.split(separator: "=").last?.split(separator: " ").first ?? "") ?? 0
        usleep(500_000)
        let rss = residentBytes(pid: process.processIdentifier)
        let anonymous = residentBytes(pid: process.processIdentifier, field: "RssAnon")

        let (wakeups, cpu) = idle(process.processIdentifier, seconds: idleSeconds)

        let changes = "\(tree)/bench-changes"
        try? FileManager.default.removeItem(atPath: changes)
        defer { try? FileManager.default.removeItem(atPath: changes) }
        try FileManager.default.createDirectory(atPath: changes + "/burst", withIntermediateDirectories: true)
        _ = try waitForNewList(list, timeout: 60)

        var single: [Double] = []
        for run in 0..<5 {
            let before = inode(list)
            let start = ContinuousClock.now
            _ = FileManager.default.createFile(atPath: "\(changes)/single-\(run)", contents: nil)
            _ = try waitForNewList(list, after: before, timeout: 60)
            single.append(seconds(since: start) - settle)
        }

        var announced: [Double] = []
        var servingRSS = 0
        var servingAnonymous = 0
        var gzipSize = 0
        var listSize = 0
        if http {
            let port = try servedPort(log: log)
            let stream = UpstreamEvents(
                url: "http://127.0.0.1:\(port)/events", logger: Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }
            )
            stream.start()
            while stream.latest.count == 0 { usleep(10_000) }
            for run in 0..<5 {
                // Quiet first: an announcement of an earlier change must not be counted.
                usleep(1_500_000)
                let seen = stream.latest.count
                let start = ContinuousClock.now
                _ = FileManager.default.createFile(atPath: "\(changes)/announced-\(run)", contents: nil)
                while stream.latest.count == seen { usleep(2_000) }
                announced.append(seconds(since: start) - settle)
            }
            gzipSize = try waitForGzip("http://127.0.0.1:\(port)/\((list as NSString).lastPathComponent)")
            listSize = (try FileManager.default.attributesOfItem(atPath: list)[.size] as? Int) ?? 0
            servingRSS = residentBytes(pid: process.processIdentifier)
            servingAnonymous = residentBytes(pid: process.processIdentifier, field: "RssAnon")
        }

        let before = inode(list)
        for file in 0..<10_000 {
            _ = FileManager.default.createFile(
                atPath: "\(changes)/burst/package-\(file)-1.0-1.fc40.x86_64.rpm", contents: nil)
        }
        let lastChange = ContinuousClock.now
        // A pause of more than `settle` inside the burst publishes a list without its last
        // files: wait for the list that has the last one.
        var seen = try waitForNewList(list, after: before, timeout: 120)
        let last = Array("package-9999-1.0-1.fc40.x86_64.rpm\n".utf8)
        while (try? Data(contentsOf: URL(fileURLWithPath: list)))?.range(of: Data(last)) == nil {
            seen = try waitForNewList(list, after: seen, timeout: 120)
        }
        let burst = seconds(since: lastChange) - settle

        print("tree: \(tree), \(entries) entries; events: \(events); settle \(settle) s (subtracted below)\n")
        print("| what | measured |")
        print("| --- | --- |")
        print(String(format: "| start to READY=1 (initial scan + first publish) | %.2f s |", readySeconds))
        func memory(_ what: String, _ rss: Int, _ anonymous: Int) {
            print(
                String(
                    format: "| %@ | %.0f MB, %.0f bytes per entry; anonymous (RssAnon) %.0f MB, %.0f bytes per entry |",
                    what, Double(rss) / 1e6, Double(rss) / Double(max(entries, 1)), Double(anonymous) / 1e6,
                    Double(anonymous) / Double(max(entries, 1))))
        }
        memory("RSS after READY", rss, anonymous)
        print(
            String(
                format: "| one new file to new list renamed in place (median of 5) | %.2f s (%.2f-%.2f) |",
                median(single), single.min()!, single.max()!))
        print(String(format: "| burst of 10,000 new files: last change to new list | %.2f s |", burst))
        print("| idle for \(idleSeconds) s: context switches, CPU | \(wakeups), \(String(format: "%.3f", cpu)) s |")
        if http {
            print(
                String(
                    format:
                        "| --http: one new file to its announcement on /events (median of 5) | %.2f s (%.2f-%.2f) |",
                    median(announced), announced.min()!, announced.max()!))
            memory("--http: RSS after those changes", servingRSS, servingAnonymous)
            print(
                String(
                    format: "| --http: the list, and its gzip form | %.1f MB, %.1f MB (%.1f times smaller) |",
                    Double(listSize) / 1e6, Double(gzipSize) / 1e6, Double(listSize) / Double(max(gzipSize, 1))))
        }
    }

    /// Context switches of every thread and CPU seconds used while nothing happens.
    func idle(_ pid: Int32, seconds: Int) -> (Int, Double) {
        func sample() -> (Int, Double) {
            var switches = 0
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
            for task in tasks {
                let status = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/status", encoding: .utf8)) ?? ""
                for line in status.split(separator: "\n") where line.contains("ctxt_switches") {
                    switches += Int(line.split(separator: "\t").last?.trimmingCharacters(in: .whitespaces) ?? "") ?? 0
                }
            }
            let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
            let fields = stat.split(separator: ")").last?.split(separator: " ") ?? []
            let ticks =
                (Double(fields.count > 13 ? fields[11] : "0") ?? 0)
                + (Double(fields.count > 13 ? fields[12] : "0") ?? 0)
            return (switches, ticks / Double(sysconf(Int32(_SC_CLK_TCK))))
        }
        let (switchesBefore, cpuBefore) = sample()
        sleep(UInt32(seconds))
        let (switchesAfter, cpuAfter) = sample()
        return (switchesAfter - switchesBefore, cpuAfter - cpuBefore)
    }

    func inode(_ path: String) -> UInt64 {
        var info = stat()
        return stat(path, &info) == 0 ? UInt64(info.st_ino) : 0
    }

    /// Polls every millisecond until the list at `path` is a new file (a rename put it there).
    func waitForNewList(_ path: String, after previous: UInt64? = nil, timeout: Double) throws -> UInt64 {
        let start = ContinuousClock.now
        while seconds(since: start) < timeout {
            let current = inode(path)
            if current != 0 && current != previous { return current }
            usleep(1000)
        }
        throw ValidationError("no new list at \(path) within \(timeout) s")
    }
}

/// Stands in for systemd's notification socket.
final class NotifyListener {
    let path: String
    let fd: Int32

    init(path: String) {
        self.path = path
        unlink(path)
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: Array(path.utf8))
            raw[path.utf8.count] = 0
        }
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
    }

    /// Reads and drops every later message, as systemd would read them: a queue of ten
    /// unread datagrams (net.unix.max_dgram_qlen) blocks the daemon's next sd_notify.
    func drain() {
        let fd = self.fd
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while buffer.withUnsafeMutableBytes({ recv(fd, $0.baseAddress, $0.count, 0) }) >= 0 {}
        }
    }

    /// Waits for a message containing `text`; returns its STATUS= line.
    func wait(for text: String, timeout: Int32) -> String? {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while poll(&descriptor, 1, timeout * 1000) == 1 {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            let message = String(decoding: buffer[..<max(count, 0)], as: UTF8.self)
            if message.contains(text) {
                return message.split(separator: "\n").first { $0.hasPrefix("STATUS=") }.map(String.init) ?? message
            }
        }
        return nil
    }
}
