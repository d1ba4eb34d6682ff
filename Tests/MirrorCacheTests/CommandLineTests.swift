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
        let tree = try UpstreamTree()
        let origin = try tree.file("pub/x.rpm", size: 70_000)
        let server = try ThrottledFileServer(root: tree.root)
        let cache = try TemporaryTree("cli-cache")
        let port = try LoopbackSocket.closedPort()
        let process = try Command.start(
            "mirror-cache",
            ["--upstream", server.url, "--cache", cache.path("c"), "--listen", "127.0.0.1:\(port)"],
            log: cache.path("log"))
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        var answer = await Client.get("http://127.0.0.1:\(port)/pub/x.rpm")
        for _ in 0..<100 where answer.status == 0 {
            try await Task.sleep(for: .milliseconds(100))
            answer = await Client.get("http://127.0.0.1:\(port)/pub/x.rpm")
        }
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
}
