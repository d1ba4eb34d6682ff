import ArgumentParser
import Foundation
import ListTransport
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// A tier below the scale run's origin (issue 19, item 6): `quick-mirror follow` syncing
/// the busiest module's list over HTTP and its files from an rsync daemon on the origin's
/// tree, telling a `filelistd relay` that serves the list on. The tier starts in step with
/// the origin (its list copied, its saved ETag and last run written as a sync would), so
/// only the changes the run makes cross it; its first change is not measured (it makes the
/// records later changes are applied with).
struct ScaleTier {
    var top: String
    var module: String
    /// Where the tier's mirror is made: its file system decides whether blocks are shared.
    var directory: String
    var originBase: String
    var filelistd: String
    var quickMirror: String

    struct Figures {
        var latency: [Double] = []
        var quickMirrorCPU: [Double] = []
        var rsyncCPU: [Double] = []
        var relayCPU: [Double] = []
        var fileSystem = ""
    }

    func measure(runs: Int, file: String, origin: UpstreamEvents) throws -> Figures {
        let fileManager = FileManager.default
        try? fileManager.removeItem(atPath: directory)
        let destination = "\(directory)/dest"
        let runtime = "\(directory)/run"
        let list = "\(module)/fullfiletimelist-\(module)"
        try fileManager.createDirectory(atPath: "\(destination)/\(module)", withIntermediateDirectories: true)
        try fileManager.createDirectory(atPath: runtime, withIntermediateDirectories: true)
        defer { try? fileManager.removeItem(atPath: directory) }

        let rsyncPort = try freePort()
        try "use chroot = no\n[master]\npath = \(top)\nread only = yes\n".write(
            toFile: "\(directory)/rsyncd.conf", atomically: true, encoding: .utf8)
        let rsync = try start(
            "/usr/bin/rsync",
            [
                "--daemon", "--no-detach", "--config=\(directory)/rsyncd.conf", "--port=\(rsyncPort)",
                "--address=127.0.0.1",
            ], log: "\(directory)/rsyncd.log")
        defer { stop(rsync) }

        // In step with the origin, as a finished sync leaves a mirror.
        let headers = try curl(["-s", "-D", "-", "-o", "\(destination)/\(list)", "\(originBase)/\(list)"])
        guard let etag = headers.split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("etag:") })?
            .split(separator: " ").last
        else { throw ValidationError("the origin sent \(list) without an ETag") }
        _ = try capture("/usr/bin/touch", ["-r", "\(top)/\(list)", "\(destination)/\(list)"])
        var info = stat()
        guard stat("\(destination)/\(list)", &info) == 0 else { throw ValidationError("no \(list) in the tier") }
        try "LASTTIME=\(Int(Date().timeIntervalSince1970))\n".write(
            toFile: "\(destination)/.quick-mirror-last-run", atomically: true, encoding: .utf8)
        try "\(etag)\t\(info.st_ino):\(info.st_size):\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)\t\(list)\n".write(
            toFile: "\(destination)/.quick-mirror-last-run.etags", atomically: true, encoding: .utf8)
        let config = "\(directory)/quick-mirror.conf"
        try """
        DESTD=\(destination)
        REMOTE=rsync://127.0.0.1:\(rsyncPort)
        LISTSOURCE=\(originBase)
        MASTERMODULE=master
        MODULES=(\(module))
        MAXRETRIES=0
        NOTIFYFILELISTD=\(runtime)

        """.write(toFile: config, atomically: true, encoding: .utf8)

        let relayLog = "\(directory)/relay.log"
        let relay = try start(
            filelistd,
            [
                "relay", "--dir", destination, "--list", list, "--http", "127.0.0.1:0", "--name", "tier1",
                "--runtime-directory", runtime, "--upstream", originBase,
            ], log: relayLog)
        defer { stop(relay) }
        let deadline = ContinuousClock.now + .seconds(120)
        var relayPort: Int?
        while relayPort == nil && ContinuousClock.now < deadline {
            relayPort = try? servedPort(log: relayLog)
            if relayPort == nil { usleep(50_000) }
        }
        guard let relayPort else { throw ValidationError("the relay did not serve; see \(relayLog)") }
        let follow = try start(quickMirror, ["follow", "-c", config], log: "\(directory)/follow.log")
        defer { stop(follow) }
        let relayed = UpstreamEvents(
            url: "http://127.0.0.1:\(relayPort)/events", logger: Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() })
        relayed.start()
        while relayed.latest.count == 0 && ContinuousClock.now < deadline { usleep(10_000) }

        var figures = Figures()
        figures.fileSystem = (try? capture("/usr/bin/stat", ["-f", "-c", "%T", destination]))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
        for run in 0...runs {
            waitUntilIdle(follow.processIdentifier)
            waitUntilIdle(relay.processIdentifier)
            let seenOrigin = origin.latest.count
            let seenRelay = relayed.latest.count
            let before = (cpu(follow.processIdentifier), cpu(relay.processIdentifier))
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data("t".utf8))
            try handle.close()
            while origin.latest.count == seenOrigin { usleep(500) }
            let announced = ContinuousClock.now
            while relayed.latest.count == seenRelay {
                guard seconds(since: announced) < 120 else { throw ValidationError("the tier never re-announced") }
                usleep(500)
            }
            let latency = seconds(since: announced)
            waitUntilIdle(follow.processIdentifier)
            waitUntilIdle(relay.processIdentifier)
            let after = (cpu(follow.processIdentifier), cpu(relay.processIdentifier))
            // The first change is the one without records: not measured.
            guard run > 0 else { continue }
            figures.latency.append(latency)
            figures.quickMirrorCPU.append(after.0.own - before.0.own)
            figures.rsyncCPU.append(after.0.children - before.0.children)
            figures.relayCPU.append(after.1.own - before.1.own)
        }
        return figures
    }

    /// A process's own CPU seconds and those of its waited-for children (rsync).
    func cpu(_ pid: Int32) -> (own: Double, children: Double) {
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        let fields = stat.split(separator: ")").last?.split(separator: " ") ?? []
        guard fields.count > 14 else { return (0, 0) }
        let tick = Double(sysconf(Int32(_SC_CLK_TCK)))
        return (
            ((Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)) / tick,
            ((Double(fields[13]) ?? 0) + (Double(fields[14]) ?? 0)) / tick
        )
    }

    func waitUntilIdle(_ pid: Int32) {
        let deadline = ContinuousClock.now + .seconds(60)
        var last = cpu(pid).own
        var quiet = 0
        while quiet < 3 && ContinuousClock.now < deadline {
            usleep(100_000)
            let now = cpu(pid).own
            quiet = now == last ? quiet + 1 : 0
            last = now
        }
    }
}
