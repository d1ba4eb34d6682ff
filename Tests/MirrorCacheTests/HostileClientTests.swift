import ConnectionGuard
import Foundation
import MirrorCache
import Testing
import TreeFixtures

/// mirror-cache against clients that hold connections, send heads that never end or
/// never stop: each is closed or refused as its limits say, and a normal client is served.
@Suite("Hostile clients of the cache", .ownThread)
struct HostileCacheClientTests {
    static func harness(
        header: Duration = .seconds(30), idle: Duration = .seconds(30), connections: Int = 100
    ) async throws -> (CacheHarness, UpstreamTree, ConnectionGate) {
        let tree = try UpstreamTree()
        _ = try tree.file("pub/x.rpm", size: 20_000)
        var limits = ServerLimits()
        limits.headerTimeout = header
        limits.idleTimeout = idle
        limits.maxConnections = connections
        let gate = ConnectionGate(limits: limits)
        let harness = try await CacheHarness(upstreams: [try ThrottledFileServer(root: tree.root)]) {
            $0.gate = gate
        }
        return (harness, tree, gate)
    }

    static let normalRequest = "GET /pub/x.rpm HTTP/1.1\r\nHost: cache\r\n\r\n"

    @Test("a half-sent head gets 408 and a close after the header timeout; a normal request meanwhile is served")
    func halfRequestTimesOut() async throws {
        let (harness, tree, gate) = try await Self.harness(header: .milliseconds(500))
        defer { withExtendedLifetime(tree) {} }
        let slow = try RawConnection(port: harness.port)
        try slow.send("GET /pub/x.rpm HTTP/1.1\r\nHost: cache\r\nX-Slow: ")
        let normal = try RawConnection(port: harness.port)
        try normal.send(Self.normalRequest)
        #expect(normal.readResponse(timeout: .seconds(10))?.status == 200)
        let (bytes, closed) = slow.readUntilClosed(timeout: .seconds(10))
        #expect(closed)
        #expect(String(decoding: bytes, as: UTF8.self).hasPrefix("HTTP/1.1 408 "))
        #expect(gate.closed(.headerTimeout) == 1)
        await harness.stop()
    }

    @Test("an idle kept-alive connection is closed after the idle timeout")
    func idleKeepAliveCloses() async throws {
        let (harness, tree, gate) = try await Self.harness(idle: .milliseconds(500))
        defer { withExtendedLifetime(tree) {} }
        let connection = try RawConnection(port: harness.port)
        try connection.send(Self.normalRequest)
        #expect(connection.readResponse(timeout: .seconds(10))?.status == 200)
        try connection.send(Self.normalRequest)
        #expect(connection.readResponse(timeout: .seconds(10))?.status == 200)
        #expect(connection.readUntilClosed(timeout: .seconds(10)).closed)
        #expect(gate.closed(.idleTimeout) == 1)
        await harness.stop()
    }

    @Test("a 64 KiB header gets 431 and a 9 KiB request line 414, before any upstream is asked")
    func oversizedHeads() async throws {
        let (harness, tree, gate) = try await Self.harness()
        defer { withExtendedLifetime(tree) {} }
        let large = try RawConnection(port: harness.port)
        try large.send(
            "GET /pub/x.rpm HTTP/1.1\r\nHost: cache\r\nX-Big: \(String(repeating: "a", count: 65536))\r\n\r\n")
        #expect(
            String(decoding: large.readUntilClosed(timeout: .seconds(10)).bytes, as: UTF8.self).hasPrefix(
                "HTTP/1.1 431 "))
        let long = try RawConnection(port: harness.port)
        try long.send("GET /\(String(repeating: "p", count: 9000)) HTTP/1.1\r\nHost: cache\r\n\r\n")
        #expect(
            String(decoding: long.readUntilClosed(timeout: .seconds(10)).bytes, as: UTF8.self).hasPrefix(
                "HTTP/1.1 414 "))
        #expect(harness.upstreams[0].totalGets == 0)
        #expect(gate.closed(.headTooLarge) == 1 && gate.closed(.uriTooLong) == 1)
        await harness.stop()
    }

    @Test("past the connection cap a client gets 503; /metrics counts it")
    func connectionCap() async throws {
        let (harness, tree, gate) = try await Self.harness(connections: 3)
        defer { withExtendedLifetime(tree) {} }
        var held: [RawConnection] = []
        for _ in 0..<3 { held.append(try RawConnection(port: harness.port)) }
        #expect(DaemonProcess.wait(timeout: .seconds(10)) { gate.openConnections == 3 })
        let refused = try RawConnection(port: harness.port)
        #expect(
            String(decoding: refused.readUntilClosed(timeout: .seconds(10)).bytes, as: UTF8.self).hasPrefix(
                "HTTP/1.1 503 "))
        held.removeAll()
        #expect(DaemonProcess.wait(timeout: .seconds(10)) { gate.openConnections == 0 })
        #expect(harness.cache.metricsText.contains("mirror_cache_connections_refused_total 1\n"))
        #expect(harness.cache.metricsText.contains("mirror_cache_connections_limit 3\n"))
        await harness.stop()
    }
}
