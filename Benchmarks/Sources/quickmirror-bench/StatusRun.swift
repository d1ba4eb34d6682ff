import ArgumentParser
import BenchSupport
import Foundation
import TreeFixtures

#if canImport(Glibc)
    import Glibc
#endif

/// What `/status` costs under load: wrk against filelistd's `/status` and against nginx
/// serving the very bytes of that answer as a static file, in one run. The answer is
/// taken once `recent` holds a full window of generations, so it is as large as a busy
/// server's. The Hummingbird floor (a route that only answers 304) shows what any
/// routed request costs, as `/status` is routed, not on the fast path lists take.
struct StatusRun: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status")

    @Option(help: "Entries in the generated tree.") var files = 20_000
    @Option(help: "Seed of the generated tree.") var seed: UInt64 = 1
    @Option(help: "Where generated trees are kept between runs.") var cache = "/var/tmp/quickmirror-bench"
    @Option(help: "The filelistd binary.") var tool = "../.build/release/filelistd"
    @Option(help: "The Hummingbird floor binary.") var floor = ".build/release/hummingbird-floor"
    @Option(help: "Generations published before measuring (recent keeps 256).") var generations = 256
    @Option(help: "wrk threads.") var threads = 2
    @Option(help: "wrk connections.") var connections = 64
    @Option(help: "Seconds per wrk run.") var duration = 10

    func run() throws {
        let generated = try MirrorTreeGenerator.cachedTree(entries: files, seed: seed, cache: cache)
        let scratch = "\(cache)/status-run-\(getpid())"
        let www = "\(scratch)/www"
        try FileManager.default.createDirectory(atPath: www, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        // A copy of the cached tree: the run changes a file per generation.
        let tree = "\(scratch)/tree"
        _ = try capture("/bin/cp", ["-a", generated, tree])

        let notify = NotifyListener(path: "\(scratch)/notify")
        let log = "\(scratch)/filelistd.log"
        let filelistd = try start(
            tool,
            [
                "--dir", tree, "-t", "\(scratch)/fullfiletimelist", "--http", "127.0.0.1:0", "--runtime-directory",
                scratch, "--settle", "0.05", "--name", "origin",
            ],
            log: log, environment: ["NOTIFY_SOCKET": notify.path, "PATH": "/usr/bin:/bin"])
        defer { stop(filelistd) }
        guard notify.wait(for: "READY=1", timeout: 600) != nil else { throw ValidationError("no READY=1") }
        notify.drain()
        let base = "http://127.0.0.1:\(try servedPort(log: log))"

        // A full window of generations, each waited for, so that every one is announced.
        var generation = try announced(base)
        for step in 0..<generations {
            try Data("generation \(step)\n".utf8).write(to: URL(fileURLWithPath: "\(tree)/status-bench-\(step % 8)"))
            let deadline = ContinuousClock.now + .seconds(30)
            while try announced(base) <= generation {
                guard ContinuousClock.now < deadline else { throw ValidationError("no generation after \(generation)") }
                usleep(10_000)
            }
            generation = try announced(base)
        }
        let body = try curl(["-s", "\(base)/status"])
        guard body.hasPrefix("{"), body.contains("\"recent\"") else { throw ValidationError("/status said: \(body)") }
        try Data(body.utf8).write(to: URL(fileURLWithPath: "\(www)/status.json"))

        let (nginx, nginxPort) = try startNginx(serving: www, scratch: scratch)
        defer { stop(nginx) }
        let floorPort = try freePort()
        let floorServer = try start(floor, ["\(floorPort)"], log: "\(scratch)/floor.log")
        defer { stop(floorServer) }
        let floorURL = "http://127.0.0.1:\(floorPort)/status"
        try waitForHTTP(floorURL)

        let nginxStatic = try wrk(
            "http://127.0.0.1:\(nginxPort)/status.json", threads: threads, connections: connections,
            duration: duration)
        let ours = try wrk("\(base)/status", threads: threads, connections: connections, duration: duration)
        let floorRate = try wrk(floorURL, threads: threads, connections: connections, duration: duration)
        let page = try wrk(
            "\(base)/", accept: "text/html", threads: threads, connections: connections, duration: duration)
        let pageSize = try curl(["-s", "-o", "/dev/null", "-H", "Accept: text/html", "-w", "%{size_download}", "\(base)/"])

        print(
            "/status of \(body.utf8.count) bytes (\(generation) generations announced); status page \(pageSize) bytes; wrk -t\(threads) -c\(connections) -d\(duration)s, \(ProcessInfo.processInfo.activeProcessorCount) cores\n"
        )
        print("| what | requests/s | mean latency | against nginx |")
        print("| --- | --- | --- | --- |")
        func row(_ name: String, _ result: WrkResult, versus: WrkResult? = nil) {
            let ratio = versus.map { String(format: "%.0f%%", 100 * result.rate / $0.rate) } ?? ""
            print(String(format: "| %@ | %.0f | %.2f ms | %@ |", name, result.rate, result.latencyMilliseconds, ratio))
        }
        row("nginx, the same bytes as a static file (200)", nginxStatic)
        row("filelistd, GET /status (200)", ours, versus: nginxStatic)
        row("Hummingbird floor: a route that only answers 304", floorRate, versus: nginxStatic)
        row("filelistd, the status page (GET / as a browser)", page, versus: nginxStatic)
    }

    /// The generation `/announcement` names now.
    func announced(_ base: String) throws -> Int {
        let text = try curl(["-s", "\(base)/announcement"])
        guard let range = text.range(of: #""generation":[0-9]+"#, options: .regularExpression) else { return 0 }
        return Int(text[range].split(separator: ":").last ?? "") ?? 0
    }
}
