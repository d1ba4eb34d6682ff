import Foundation
import Testing
import TreeFixtures

#if canImport(Glibc)
    import Glibc
#endif

/// The executable as systemd runs it: a service in a ServiceGroup that SIGTERM drains,
/// and its descriptor limit.
@Suite("mirror-cache as a service", .ownThread)
struct CacheServiceTests {
    @Test("SIGTERM lets a transfer in flight finish, refuses new connections, and exits 0")
    func sigtermDrainsTransfers() async throws {
        let (tree, origin, server, cache, port) = try CommandLineTests.upstream(serving: "pub/big.iso", size: 600_000)
        defer { withExtendedLifetime(tree) {} }
        // About three seconds of body: SIGTERM arrives in the middle of it.
        server.throttle(bytesPerSecond: 200_000)
        let process = try Command.start(
            "mirror-cache",
            ["--upstream", server.url, "--cache", cache.path("c"), "--listen", "127.0.0.1:\(port)"],
            log: cache.path("log"))
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let transfer = Task { try await CommandLineTests.firstAnswer("http://127.0.0.1:\(port)/pub/big.iso") }
        #expect(DaemonProcess.wait(timeout: .seconds(20)) { server.firstBodyByte("/pub/big.iso") != nil })
        kill(process.processIdentifier, SIGTERM)
        // The listener closes at once: a new client is refused while the transfer goes on.
        #expect(
            DaemonProcess.wait(timeout: .seconds(5)) { refusesConnections(port: port) }, "still accepting after SIGTERM"
        )
        let answer = try await transfer.value
        #expect(answer.status == 200)
        #expect(answer.complete && answer.body == origin, "the transfer in flight was cut: \(answer.error ?? "")")
        #expect(DaemonProcess.wait(timeout: .seconds(20)) { !process.isRunning })
        #expect(process.terminationReason == .exit && process.terminationStatus == 0)
    }

    @Test(
        "under the unit's descriptor limit, 3,000 half-requests are held and a normal request is still served",
        .enabled(if: ownOpenFileLimitCanReach(4000), "this process may not open the 3,000 connections it needs"))
    func halfRequestsUnderTheUnitLimit() async throws {
        // The unit's LimitNOFILE=, or as much of it as this machine's hard limit grants.
        let limit = min(try unitOpenFileLimit("mirror-cache.service.in"), ownHardOpenFileLimit())
        let (tree, origin, server, cache, port) = try CommandLineTests.upstream(serving: "pub/x.rpm", size: 5_000)
        defer { withExtendedLifetime(tree) {} }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/prlimit")
        process.arguments = [
            "--nofile=\(limit):\(limit)", Command.executable("mirror-cache").path, "--upstream", server.url,
            "--cache", cache.path("c"), "--listen", "127.0.0.1:\(port)",
        ]
        _ = FileManager.default.createFile(atPath: cache.path("log"), contents: nil)
        process.standardError = FileHandle(forWritingAtPath: cache.path("log"))
        try process.run()
        defer { process.terminate(within: .seconds(20)) }
        #expect(try await CommandLineTests.firstAnswer("http://127.0.0.1:\(port)/pub/x.rpm").body == origin)
        var held: [RawConnection] = []
        for index in 0..<3000 {
            let connection = try RawConnection(port: port)
            try connection.send("GET /pub/x-\(index).rpm HTTP/1.1\r\nHost: cache\r\nX-Slow: ")
            held.append(connection)
        }
        let normal = try RawConnection(port: port)
        try normal.send("GET /pub/x.rpm HTTP/1.1\r\nHost: cache\r\n\r\n")
        let answer = normal.readResponse(timeout: .seconds(10))
        #expect(answer?.status == 200 && answer?.body == origin)
        let text = (try? String(contentsOfFile: cache.path("log"), encoding: .utf8)) ?? ""
        #expect(text.contains("client limits"), "\(text)")
        #expect(!text.contains("cap reached"), "3,000 connections are within the unit's cap: \(text)")
        withExtendedLifetime(held) {}
    }
}

func refusesConnections(port: Int) -> Bool {
    do {
        let connection = try RawConnection(port: port)
        _ = connection.descriptor
        return false
    } catch {
        return true
    }
}
