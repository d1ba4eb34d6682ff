import Foundation
import Testing
import TreeFixtures

#if canImport(Glibc)
    import Glibc
#endif

/// The executable as an operator runs it.
@Suite("mirror-cache command line", .serialized, .ownThread)
struct CommandLineTests {
    @Test func badFlagsGiveOneLineErrors() throws {
        let cache = try TemporaryTree("cli-cache")
        let badAllow = try Command.run(
            "mirror-cache",
            [
                "--upstream", "http://127.0.0.1:1", "--cache", cache.root, "--listen", "127.0.0.1:0", "--allow",
                "10.0.0.0/33",
            ])
        #expect(badAllow.status != 0)
        #expect(badAllow.stderrLines.count == 1)
        #expect(badAllow.stderr.contains("--allow '10.0.0.0/33'"))
        let noUpstream = try Command.run("mirror-cache", ["--cache", cache.root, "--listen", "127.0.0.1:0"])
        #expect(noUpstream.status == 64)
        #expect(noUpstream.stderr.contains("--upstream"))
        let badListen = try Command.run(
            "mirror-cache", ["--upstream", "http://127.0.0.1:1", "--cache", cache.root, "--listen", "nowhere"])
        #expect(badListen.status == 64)
    }

    @Test func servesThroughTheExecutable() async throws {
        let (tree, origin, server, cache, port) = try Self.upstream(serving: "pub/x.rpm", size: 70_000)
        defer { withExtendedLifetime(tree) {} }
        let process = try Command.start(
            "mirror-cache",
            ["--upstream", server.url, "--cache", cache.path("c"), "--listen", "127.0.0.1:\(port)"],
            log: cache.path("log"))
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let answer = try await Self.firstAnswer("http://127.0.0.1:\(port)/pub/x.rpm")
        #expect(answer.status == 200 && answer.body == origin)
        // Stored once durable, just after the client had its last byte.
        #expect(
            DaemonProcess.wait {
                FileManager.default.contents(atPath: cache.path("c/reverse/pub/x.rpm")).map { Array($0) } == origin
            })
        process.terminate(within: .seconds(20))
        #expect(process.terminationStatus == 0, "SIGTERM ends it cleanly")
        // Request lines are written in batches; a clean stop writes the last ones.
        let log = try String(contentsOfFile: cache.path("log"), encoding: .utf8)
        let requests = log.split(separator: "\n").filter { $0.contains(" request ") && $0.contains("uri=/pub/x.rpm ") }
        #expect(requests.count == 1, "one log line per request:\n\(log)")
        let line = requests.first ?? ""
        #expect(line.contains(" status=200 bytes=70000 ms=") && line.hasSuffix(" served=miss"), "\(log)")
    }

    /// Standard error is a pipe whose reader went away (a log collector that died): the
    /// request lines are lost (each batch's write fails with EPIPE), the cache keeps
    /// serving and still stops cleanly.
    @Test func aLogReaderThatWentAwayDoesNotStopTheCache() async throws {
        let (tree, origin, server, directory, port) = try Self.upstream(serving: "pub/y.rpm", size: 5_000)
        defer { withExtendedLifetime(tree) {} }
        let process = Process()
        process.executableURL = Command.executable("mirror-cache")
        process.arguments = [
            "--upstream", server.url, "--cache", directory.path("c"), "--listen", "127.0.0.1:\(port)",
        ]
        let log = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = log
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        try log.fileHandleForReading.close()
        let answer = try await Self.firstAnswer("http://127.0.0.1:\(port)/pub/y.rpm")
        #expect(answer.status == 200 && answer.body == origin)
        // The first batch of lines has met the closed pipe by now.
        try await Task.sleep(for: .milliseconds(300))
        for _ in 0..<3 {
            let again = await Client.get("http://127.0.0.1:\(port)/pub/y.rpm")
            #expect(again.status == 200 && again.body == origin)
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(process.isRunning, "a closed log pipe must not end the cache")
        process.terminate(within: .seconds(20))
        #expect(process.terminationStatus == 0, "SIGTERM still ends it cleanly: \(process.terminationReason.rawValue)")
    }

    /// An upstream serving one file of `size` bytes at `path`, a directory for the cache,
    /// and a free loopback port for it to listen on. The tree must outlive the server.
    static func upstream(serving path: String, size: Int) throws -> (
        tree: UpstreamTree, origin: [UInt8], server: ThrottledFileServer, directory: TemporaryTree, port: Int
    ) {
        let tree = try UpstreamTree()
        let origin = try tree.file(path, size: size)
        return (
            tree, origin, try ThrottledFileServer(root: tree.root), try TemporaryTree("cli-cache"),
            try LoopbackSocket.closedPort()
        )
    }

    /// The first answer of a cache that is still starting: retried for up to 10 s while
    /// nothing listens.
    static func firstAnswer(_ url: String) async throws -> Received {
        var answer = await Client.get(url)
        for _ in 0..<100 where answer.status == 0 {
            try await Task.sleep(for: .milliseconds(100))
            answer = await Client.get(url)
        }
        return answer
    }
}
