import Foundation
import Testing
import TreeFixtures

#if canImport(Glibc)
    import Glibc
#endif

/// mirror-cache as an operator runs it (the executable, its flags), in front of a real
/// upstream: the files from a web server, the list and its change stream from a
/// filelistd watching the same tree.
@Suite("mirror-cache reads the upstream's list", .serialized, .ownThread)
struct UpstreamListTests {
    @Test(
        "a new list generation fetches again exactly the three files whose line changed; nothing else reaches the upstream"
    )
    func exactFreshness() async throws {
        let upstream = try UpstreamTree()
        let old = Int(Date().timeIntervalSince1970) - 3600
        let paths = [
            "pub/Packages/a.rpm", "pub/Packages/same-size.rpm", "pub/Packages/resized.rpm",
            "pub/repodata/repomd.xml", "pub/Packages/b.rpm",
        ]
        for (number, path) in paths.enumerated() {
            try upstream.file(path, size: 1000 + number * 100, seed: UInt64(number), mtime: old)
        }
        let server = try ThrottledFileServer(root: upstream.root)
        defer { server.stop() }
        let filelistd = try DaemonProcess(
            root: upstream.root, arguments: ["--settle", "0.2", "--http", "127.0.0.1:0", "-c"])
        defer { filelistd.stop() }
        let listServer = try #require(Self.port(in: { filelistd.log }, after: "address=127.0.0.1:"))

        let cache = try CacheProcess(arguments: [
            "--upstream", server.url, "--list", "fullfiletimelist", "--list-server", "http://127.0.0.1:\(listServer)",
        ])
        defer { cache.stop() }
        #expect(cache.waitForLog("list loaded", count: 1), "\(cache.log)")

        for path in paths {
            let first = await Client.get("\(cache.url)/\(path)")
            #expect(first.status == 200 && first.complete, "\(path): \(first)")
            #expect(first.body == (try upstream.tree.read(path)), "\(path)")
        }
        // Served from the cache now: the upstream is not asked again.
        for path in paths { _ = await Client.get("\(cache.url)/\(path)", keep: false) }
        #expect(paths.allSatisfy { server.gets("/" + $0) == 1 }, "\(paths.map { server.gets("/" + $0) })")
        server.resetCounts()

        sleepPastNextSecond()
        try upstream.file("pub/Packages/same-size.rpm", size: 1100, seed: 99)
        try upstream.file("pub/Packages/resized.rpm", size: 4321, seed: 2)
        try upstream.file("pub/repodata/repomd.xml", size: 1300, seed: 7)
        #expect(cache.waitForLog("list generation applied", count: 1), "\(cache.log)")
        // A later generation would be the same change seen in two steps: let it come.
        try await Task.sleep(for: .seconds(1))

        for path in paths {
            let now = await Client.get("\(cache.url)/\(path)")
            #expect(now.status == 200 && now.complete, "\(path): \(now)")
            #expect(now.body == (try upstream.tree.read(path)), "\(path) is not the upstream's current copy")
        }
        let changed = ["pub/Packages/same-size.rpm", "pub/Packages/resized.rpm", "pub/repodata/repomd.xml"]
        #expect(changed.allSatisfy { server.gets("/" + $0) == 1 }, "\(changed.map { server.gets("/" + $0) })")
        #expect(server.totalGets == changed.count, "the upstream was asked \(server.totalGets) times")
    }

    /// The port a log names after `marker`, once it does.
    static func port(in log: () -> String, after marker: String) -> Int? {
        var port: Int?
        DaemonProcess.wait(timeout: .seconds(60)) {
            let text = log()
            guard let range = text.range(of: marker) else { return false }
            port = Int(text[range.upperBound...].prefix { $0.isNumber })
            return port != nil
        }
        return port
    }
}

/// The mirror-cache executable, started for one test on 127.0.0.1 with a cache
/// directory of its own; stopped (SIGTERM) when the test is done with it.
final class CacheProcess: @unchecked Sendable {
    let process: Process
    let directory: TemporaryTree
    let logPath: String
    private(set) var port = 0

    init(arguments: [String]) throws {
        directory = try TemporaryTree("cache-process")
        logPath = directory.root + ".log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process = Process()
        process.executableURL = Command.executable("mirror-cache")
        process.arguments = ["--cache", directory.root, "--listen", "127.0.0.1:0"] + arguments
        process.environment = ProcessInfo.processInfo.environment.filter { $0.key != "NOTIFY_SOCKET" }
        let log = FileHandle(forWritingAtPath: logPath)
        process.standardError = log
        process.standardOutput = log
        try process.run()
        let ready = DaemonProcess.wait(timeout: .seconds(30)) {
            guard let range = self.log.range(of: "port=") else { return false }
            port = Int(self.log[range.upperBound...].prefix { $0.isNumber }) ?? 0
            return port > 0
        }
        if !ready { throw RawFailure(description: "mirror-cache did not start:\n\(log)") }
    }

    deinit { stop() }

    var url: String { "http://127.0.0.1:\(port)" }
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func stop() { process.terminate(within: .seconds(20)) }

    /// Waits until `line` appears `count` times in the log.
    func waitForLog(_ line: String, count: Int, timeout: Duration = .seconds(60)) -> Bool {
        DaemonProcess.wait(timeout: timeout) { self.log.components(separatedBy: line).count - 1 >= count }
    }
}
