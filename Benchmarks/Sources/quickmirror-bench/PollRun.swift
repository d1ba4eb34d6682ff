import ArgumentParser
import BenchSupport
import Foundation
import TreeFixtures

#if canImport(Glibc)
    import Glibc
#endif

/// What polling costs: wrk against filelistd and against nginx serving the same list
/// file, in one run, each asked with its own current ETag (every answer a 304), then
/// whole-list GETs. A Hummingbird application that answers 304 and does nothing else
/// gives the floor under filelistd's rate.
struct PollRun: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "poll")

    @Option(help: "Entries in the generated tree.") var files = 200_000
    @Option(help: "Seed of the generated tree.") var seed: UInt64 = 1
    @Option(help: "Where generated trees are kept between runs.") var cache = "/var/tmp/quickmirror-bench"
    @Option(help: "The filelistd binary.") var tool = "../.build/release/filelistd"
    @Option(help: "The Hummingbird floor binary.") var floor = ".build/release/hummingbird-floor"
    @Option(help: "wrk threads.") var threads = 2
    @Option(help: "wrk connections.") var connections = 64
    @Option(help: "Seconds per wrk run.") var duration = 10

    func run() throws {
        let tree = try MirrorTreeGenerator.cachedTree(entries: files, seed: seed, cache: cache)
        let scratch = "\(cache)/poll-run-\(getpid())"
        let www = "\(scratch)/www"
        try FileManager.default.createDirectory(atPath: www, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let list = "\(www)/fullfiletimelist"

        let notify = NotifyListener(path: "\(scratch)/notify")
        let log = "\(scratch)/filelistd.log"
        let filelistd = try start(
            tool,
            ["--dir", tree, "-t", list, "--http", "127.0.0.1:0", "--runtime-directory", scratch, "--settle", "0.2"],
            log: log, environment: ["NOTIFY_SOCKET": notify.path, "PATH": "/usr/bin:/bin"])
        defer { stop(filelistd) }
        guard notify.wait(for: "READY=1", timeout: 600) != nil else { throw ValidationError("no READY=1") }
        notify.drain()
        let ours = "http://127.0.0.1:\(try servedPort(log: log))/fullfiletimelist"

        let (nginx, nginxPort) = try startNginx(serving: www, scratch: scratch)
        defer { stop(nginx) }
        let theirs = "http://127.0.0.1:\(nginxPort)/fullfiletimelist"

        let floorPort = try freePort()
        let floorServer = try start(floor, ["\(floorPort)"], log: "\(scratch)/floor.log")
        defer { stop(floorServer) }
        let floorURL = "http://127.0.0.1:\(floorPort)/fullfiletimelist"

        let ourTag = try etag(ours)
        let theirTag = try etag(theirs)
        let floorTag = try etag(floorURL, status: "304")
        for (url, tag) in [(ours, ourTag), (theirs, theirTag), (floorURL, floorTag)] {
            let status = try curl(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "If-None-Match: \(tag)", url])
            guard status == "304" else { throw ValidationError("\(url) answered \(status) to its own ETag, not 304") }
        }
        let size = (try FileManager.default.attributesOfItem(atPath: list)[.size] as? Int) ?? 0
        // nginx serves a .gz made beforehand (gzip_static) at gzip's fastest level, as
        // filelistd makes its own once per generation: both only send a file.
        _ = try capture("/bin/sh", ["-c", "gzip -1 -n -k -f \(list)"])
        let gzipSize = try waitForGzip(ours)
        let nginxGzipSize = (try FileManager.default.attributesOfItem(atPath: list + ".gz")[.size] as? Int) ?? 0

        let nginx304 = try wrk(theirs, etag: theirTag, threads: threads, connections: connections, duration: duration)
        let ours304 = try wrk(ours, etag: ourTag, threads: threads, connections: connections, duration: duration)
        let floor304 = try wrk(floorURL, etag: floorTag, threads: threads, connections: connections, duration: duration)
        let nginxGet = try wrk(theirs, etag: nil, threads: threads, connections: connections, duration: duration)
        let oursGet = try wrk(ours, etag: nil, threads: threads, connections: connections, duration: duration)
        let nginxGzip = try wrk(
            theirs, etag: nil, gzip: true, threads: threads, connections: connections, duration: duration)
        let oursGzip = try wrk(
            ours, etag: nil, gzip: true, threads: threads, connections: connections, duration: duration)

        print(
            "list of \(files) entries (\(size / 1_000_000) MB) from \(tree); wrk -t\(threads) -c\(connections) -d\(duration)s, \(ProcessInfo.processInfo.activeProcessorCount) cores\n"
        )
        print("| what | requests/s | mean latency | filelistd / nginx |")
        print("| --- | --- | --- | --- |")
        func row(_ name: String, _ result: WrkResult, versus: WrkResult? = nil) {
            let ratio = versus.map { String(format: "%.0f%%", 100 * result.rate / $0.rate) } ?? ""
            print(String(format: "| %@ | %.0f | %.2f ms | %@ |", name, result.rate, result.latencyMilliseconds, ratio))
        }
        row("nginx, If-None-Match (304)", nginx304)
        row("filelistd, If-None-Match (304)", ours304, versus: nginx304)
        row("Hummingbird floor: a route that only answers 304", floor304)
        row("nginx, whole list (200)", nginxGet)
        row("filelistd, whole list (200)", oursGet, versus: nginxGet)
        row("nginx, whole list gzip-compressed (200)", nginxGzip)
        row("filelistd, whole list gzip-compressed (200)", oursGzip, versus: nginxGzip)
        print(
            "\nlist \(size) bytes; filelistd's gzip form \(gzipSize) bytes (\(String(format: "%.1f", Double(size) / Double(max(gzipSize, 1))))x smaller); `gzip -1`, which nginx serves, \(nginxGzipSize) bytes"
        )
    }
}
