import ArgumentParser
import BenchSupport
import TreeFixtures
import Foundation
import ListTransport
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// filelistd at Fedora's size (issue 19): a top directory of modules (the largest with
/// millions of entries and Fedora-length paths), served over HTTP, and what one change
/// costs: bytes, CPU, time to the announcement and to the rename, a burst of creates,
/// memory per entry, the start against one-shot create-filelist runs, and a tier below
/// re-announcing the change (`ScaleTier`).
struct ScaleRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scale",
        abstract: "filelistd on a multi-million-entry tree of modules: the cost of one change, a burst, memory, start.")

    @Option(help: "A top directory of modules to use as it is (e.g. made by mktree.py); else one is generated.")
    var top: String?
    @Option(help: "Modules to generate, name=entries, comma-separated.")
    var modules = "fedora=2500000,epel=1000000,alt=500000"
    @Option(help: "Where generated trees are kept between runs.") var cache = "/var/tmp/quickmirror-bench"
    @Option(help: "The filelistd binary.") var tool = "../.build/release/filelistd"
    @Option(help: "The create-filelist binary.") var createFilelist = "../.build/release/create-filelist"
    @Option(help: "Kernel events: fanotify or inotify.") var events = "fanotify"
    @Option(help: "filelistd's settle time, subtracted from latencies.") var settle = 0.2
    @Option(help: "One-file changes to measure.") var runs = 5
    @Option(help: "The quick-mirror binary (the tier row).") var quickMirror = "../.build/release/quick-mirror"
    @Option(help: "Where the tier's mirror is made (its file system decides whether blocks are shared); default: below --cache.")
    var tierDirectory: String?

    func run() throws {
        let moduleSizes = try modules.split(separator: ",").map { item -> (String, Int) in
            let parts = item.split(separator: "=")
            guard parts.count == 2, let entries = Int(parts[1]) else {
                throw ValidationError("--modules: '\(item)' is not NAME=ENTRIES")
            }
            return (String(parts[0]), entries)
        }
        let top = try self.top ?? MirrorTreeGenerator.cachedModules(moduleSizes, cache: cache)
        let names = moduleSizes.map(\.0)
        let busiest = names[0]
        let scratch = "\(cache)/scale-run-\(getpid())"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        // Warm the dentry and inode caches: both the one-shot runs and the daemon start warm.
        _ = try measure(["find", top, "-printf", ""])

        // The yardstick: create-filelist -c on each module, one after another, writing the
        // same three lists the daemon publishes per module (time list, fullfilelist, image list).
        var oneShot = 0.0
        for name in names {
            oneShot += try measure([
                createFilelist, "-d", "\(top)/\(name)", "-c", "-s", "-S", "fullfiletimelist-\(name)", "-S",
                "fullfilelist", "-S", "imagelist-\(name)", "-t", "\(scratch)/\(name).list", "-f",
                "\(scratch)/\(name).full", "-i", "\(scratch)/\(name).images",
            ]).seconds
        }

        let config = "\(scratch)/filelistd.conf"
        try """
        top = \(top)
        modules = \(names.joined(separator: " "))
        checksum = yes
        settle = \(settle)
        max-delay = 60
        events = \(events)

        """.write(toFile: config, atomically: true, encoding: .utf8)
        let notify = NotifyListener(path: "\(scratch)/notify")
        let log = "\(scratch)/filelistd.log"
        let started = ContinuousClock.now
        let daemon = try start(
            tool, ["--config", config, "--http", "127.0.0.1:0", "--runtime-directory", scratch], log: log,
            environment: ["NOTIFY_SOCKET": notify.path, "PATH": "/usr/bin:/bin"])
        defer { stop(daemon) }
        guard let ready = notify.wait(for: "READY=1", timeout: 1200) else { throw ValidationError("no READY=1") }
        let startSeconds = seconds(since: started)
        notify.drain()
        let entries = Int(ready.split(separator: "=").last?.split(separator: " ").first ?? "") ?? 0
        usleep(500_000)
        let pid = daemon.processIdentifier
        let anonymous = residentBytes(pid: pid, field: "RssAnon")

        let port = try servedPort(log: log)
        let base = "http://127.0.0.1:\(port)"
        let timeList = "\(top)/\(busiest)/fullfiletimelist-\(busiest)"
        _ = try waitForGzip("\(base)/\(busiest)/fullfiletimelist-\(busiest)")
        let stream = UpstreamEvents(
            url: "\(base)/events", logger: Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() })
        stream.start()
        while stream.latest.count == 0 { usleep(10_000) }

        // One byte appended to one file of the busiest module.
        let file = try firstFile(in: timeList, module: "\(top)/\(busiest)")
        var announced: [Double] = []
        var renamed: [Double] = []
        var cpu: [Double] = []
        var bytes: [String] = []
        for _ in 0..<runs {
            waitUntilIdle(pid)
            let seen = stream.latest.count
            let before = inode(timeList)
            let cpuBefore = cpuSeconds(pid)
            let start = ContinuousClock.now
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data("x".utf8))
            try handle.close()
            while stream.latest.count == seen { usleep(1000) }
            announced.append(seconds(since: start) - settle)
            while inode(timeList) == before { usleep(1000) }
            renamed.append(seconds(since: start) - settle)
            // Everything the change causes: lists, digests, durable steps, the gzip form, the delta.
            waitUntilIdle(pid)
            cpu.append(cpuSeconds(pid) - cpuBefore)
            bytes.append(lastPublished(log))
        }

        // A tier below: quick-mirror following the origin, telling its relay.
        let tier = try ScaleTier(
            top: top, module: busiest, directory: tierDirectory ?? "\(scratch)/tier", originBase: base,
            filelistd: tool, quickMirror: quickMirror
        ).measure(runs: runs, file: file, origin: stream)

        // A burst of 10,000 new files in one directory of the busiest module.
        let burst = "\(top)/\(busiest)/bench-burst-\(getpid())"
        try FileManager.default.createDirectory(atPath: burst, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: burst) }
        waitUntilIdle(pid)
        let etag = try currentETag("\(base)/\(busiest)/fullfiletimelist-\(busiest)")
        let lastName = "package-9999-1.0-1.fc40.x86_64.rpm"
        for number in 0..<10_000 {
            _ = FileManager.default.createFile(
                atPath: "\(burst)/package-\(number)-1.0-1.fc40.x86_64.rpm", contents: nil)
        }
        let lastCreate = ContinuousClock.now
        var burstSeconds = 0.0
        var seen = stream.latest.count
        while true {
            while stream.latest.count == seen { usleep(1000) }
            seen = stream.latest.count
            let delta = try curl(["-s", "\(base)/changes?list=\(busiest)/fullfiletimelist-\(busiest)&since=\(etag)"])
            if delta.contains(lastName) {
                burstSeconds = seconds(since: lastCreate) - settle
                break
            }
        }

        print("tree: \(top), modules \(names.joined(separator: " ")), \(entries) entries; events \(events)")
        print("settle \(settle) s (subtracted); changed file: \(file)\n")
        print("| what | measured |")
        print("| --- | --- |")
        print(
            String(
                format:
                    "| start -> all lists published (READY=1) | %.2f s; create-filelist -c -t -f -i of the %d modules, one after another: %.2f s (%.2fx) |",
                startSeconds, names.count, oneShot, startSeconds / oneShot))
        print(
            String(
                format: "| anonymous memory after READY (RssAnon) | %.0f MB = %.0f B/entry |", Double(anonymous) / 1e6,
                Double(anonymous) / Double(max(entries, 1))))
        print(row("one appended byte -> announcement on /events (median of \(runs))", announced))
        print(row("one appended byte -> list renamed in place (median of \(runs))", renamed))
        print(row("CPU of the daemon for that publish, all it causes (median of \(runs))", cpu))
        print("| bytes for that publish (the last one's log) | \(bytes.last ?? "") |")
        print(
            String(
                format: "| a burst of 10,000 creates -> announced list holding all | %.2f s after the last create |",
                burstSeconds))
        print(
            row(
                "a tier (quick-mirror follow + relay, mirror on \(tier.fileSystem)) re-announces one appended byte, after the origin; its rsync included (median of \(runs))",
                tier.latency))
        print(
            String(
                format: "| CPU of the tier per change (medians): quick-mirror %.3f s, its rsync %.3f s, relay %.3f s |",
                median(tier.quickMirrorCPU), median(tier.rsyncCPU), median(tier.relayCPU)))
    }

    func row(_ what: String, _ values: [Double]) -> String {
        String(format: "| %@ | %.3f s (%.3f-%.3f) |", what, median(values), values.min()!, values.max()!)
    }

    /// A regular file of the module, from its list: the first `f` line.
    func firstFile(in list: String, module: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: list) else { throw ValidationError("cannot read \(list)") }
        defer { try? handle.close() }
        let head = String(decoding: handle.readData(ofLength: 1 << 20), as: UTF8.self)
        for line in head.split(separator: "\n") {
            let fields = line.split(separator: "\t")
            if fields.count == 4 && fields[1] == "f" { return "\(module)/\(fields[3])" }
        }
        throw ValidationError("no file in the first MiB of \(list)")
    }

    func currentETag(_ url: String) throws -> String {
        let answer = try curl(["-sI", url])
        guard let line = answer.split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("etag:") }) else {
            throw ValidationError("\(url) has no ETag")
        }
        return line.split(separator: "\"").dropFirst().first.map(String.init) ?? ""
    }

    /// The written, copied and shared bytes of the last publish, from the daemon's log.
    func lastPublished(_ log: String) -> String {
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        guard let line = text.split(separator: "\n").last(where: { $0.contains("list published") }) else { return "" }
        return line.split(separator: " ").filter {
            $0.hasPrefix("written=") || $0.hasPrefix("copied=") || $0.hasPrefix("shared=") || $0.hasPrefix("took=")
        }.joined(separator: " ")
    }

    func inode(_ path: String) -> UInt64 {
        var info = stat()
        return stat(path, &info) == 0 ? UInt64(info.st_ino) : 0
    }

    /// User and system CPU seconds of a process so far.
    func cpuSeconds(_ pid: Int32) -> Double {
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        let fields = stat.split(separator: ")").last?.split(separator: " ") ?? []
        guard fields.count > 13 else { return 0 }
        return ((Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Waits until the process used no CPU for 300 ms (at most 60 s).
    func waitUntilIdle(_ pid: Int32) {
        let deadline = ContinuousClock.now + .seconds(60)
        var last = cpuSeconds(pid)
        var quiet = 0
        while quiet < 3 && ContinuousClock.now < deadline {
            usleep(100_000)
            let now = cpuSeconds(pid)
            quiet = now == last ? quiet + 1 : 0
            last = now
        }
    }
}
