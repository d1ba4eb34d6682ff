import ConnectionGuard
import Foundation
import Hummingbird
import HummingbirdTesting
import ListService
import Testing
import TreeFixtures

/// filelistd's HTTP side against clients that hold connections open, send heads that
/// never end or never stop, and stop reading: each is closed or refused in the time and
/// size the limits give, and a normal client is still served.
@Suite("Hostile clients of the list server", .ownThread)
struct HostileClientTests {
    static func limits(
        header: Duration = .seconds(30), idle: Duration = .seconds(30), send: Duration = .seconds(30),
        connections: Int = 100, subscribers: Int = 100
    ) -> ConnectionGate {
        var limits = ServerLimits()
        limits.headerTimeout = header
        limits.idleTimeout = idle
        limits.sendTimeout = send
        limits.maxConnections = connections
        limits.maxSubscribers = subscribers
        return ConnectionGate(limits: limits)
    }

    static let normalRequest = "GET /fullfiletimelist HTTP/1.1\r\nHost: origin\r\n\r\n"

    /// Runs `body` with the port of a live server holding one published list.
    static func serving(
        _ gate: ConnectionGate, _ lists: PublishedLists? = nil, _ body: @escaping @Sendable (Int) async throws -> Void
    ) async throws {
        let lists = try lists ?? PublishedLists()
        if lists.catalog.version(of: PublishedLists.list) == nil {
            try lists.publish(PublishedLists.content(), generation: 1)
        }
        try await lists.application(gate: gate).test(.live) { client in try await body(client.port!) }
    }

    @Test("a half-sent head gets 408 and a close after the header timeout; a normal request meanwhile is served")
    func halfRequestTimesOut() async throws {
        let gate = Self.limits(header: .milliseconds(500))
        try await Self.serving(gate) { port in
            let slow = try RawConnection(port: port)
            try slow.send("GET /fullfiletimelist HTTP/1.1\r\nHost: origin\r\nX-Slow: ")
            let normal = try RawConnection(port: port)
            try normal.send(Self.normalRequest)
            #expect(await normal.response(timeout: .seconds(5))?.status == 200)
            let started = ContinuousClock.now
            let (bytes, closed) = await slow.closing(timeout: .seconds(10))
            #expect(closed)
            #expect(String(decoding: bytes, as: UTF8.self).hasPrefix("HTTP/1.1 408 "))
            #expect(ContinuousClock.now - started < .seconds(5))
            // HummingbirdTesting's own idle client connection times out too.
            #expect(gate.closed(.headerTimeout) >= 1)
        }
    }

    @Test("a connection that never sends a byte is closed after the header timeout")
    func silentConnectionTimesOut() async throws {
        let gate = Self.limits(header: .milliseconds(300))
        try await Self.serving(gate) { port in
            let silent = try RawConnection(port: port)
            #expect(await silent.closing(timeout: .seconds(10)).closed)
        }
    }

    @Test("an idle kept-alive connection is closed after the idle timeout, not before its answer")
    func idleKeepAliveCloses() async throws {
        let gate = Self.limits(idle: .milliseconds(500))
        try await Self.serving(gate) { port in
            let connection = try RawConnection(port: port)
            try connection.send(Self.normalRequest)
            #expect(await connection.response(timeout: .seconds(5))?.status == 200)
            // Kept alive: a second request on it is served.
            try connection.send(Self.normalRequest)
            #expect(await connection.response(timeout: .seconds(5))?.status == 200)
            let (bytes, closed) = await connection.closing(timeout: .seconds(10))
            #expect(closed)
            #expect(bytes.isEmpty, "an idle close says nothing: \(String(decoding: bytes, as: UTF8.self))")
            #expect(gate.closed(.idleTimeout) == 1)
        }
    }

    @Test("a 64 KiB header gets 431, a 9 KiB request line 414; each connection is closed")
    func oversizedHeads() async throws {
        let gate = Self.limits()
        try await Self.serving(gate) { port in
            let large = try RawConnection(port: port)
            try large.send(
                "GET /fullfiletimelist HTTP/1.1\r\nHost: origin\r\nX-Big: \(String(repeating: "a", count: 65536))\r\n\r\n"
            )
            let answer = await large.closing(timeout: .seconds(10))
            #expect(answer.closed)
            #expect(String(decoding: answer.bytes, as: UTF8.self).hasPrefix("HTTP/1.1 431 "))

            // Many small fields add up: 16 KiB in all is the limit, whatever each line's size.
            let many = try RawConnection(port: port)
            let fields = (0..<400).map { "X-Field-\($0): \(String(repeating: "b", count: 40))\r\n" }.joined()
            try many.send("GET /fullfiletimelist HTTP/1.1\r\nHost: origin\r\n\(fields)\r\n")
            #expect(
                String(decoding: await many.closing(timeout: .seconds(10)).bytes, as: UTF8.self).hasPrefix(
                    "HTTP/1.1 431 "))

            let long = try RawConnection(port: port)
            try long.send("GET /\(String(repeating: "p", count: 9000)) HTTP/1.1\r\nHost: origin\r\n\r\n")
            #expect(
                String(decoding: await long.closing(timeout: .seconds(10)).bytes, as: UTF8.self).hasPrefix(
                    "HTTP/1.1 414 "))
            #expect(gate.closed(.headTooLarge) == 2)
            #expect(gate.closed(.uriTooLong) == 1)

            // A head just under the limits is an ordinary request.
            let fine = try RawConnection(port: port)
            try fine.send(
                "GET /fullfiletimelist HTTP/1.1\r\nHost: origin\r\nX-Fine: \(String(repeating: "c", count: 8000))\r\n\r\n"
            )
            #expect(await fine.response(timeout: .seconds(5))?.status == 200)
        }
    }

    @Test("past the connection cap a client gets 503 and a close; /metrics counts it once there is room")
    func connectionCap() async throws {
        let gate = Self.limits(connections: 4)
        try await Self.serving(gate) { port in
            var held: [RawConnection] = []
            for _ in 0..<4 { held.append(try RawConnection(port: port)) }
            try await waitUntil { gate.openConnections == 4 }
            let refused = try RawConnection(port: port)
            let answer = await refused.closing(timeout: .seconds(10))
            #expect(String(decoding: answer.bytes, as: UTF8.self).hasPrefix("HTTP/1.1 503 "))
            // HummingbirdTesting's own client may hold a connection of its own too.
            #expect(gate.connectionsRefused >= 1)
            held.removeAll()
            try await waitUntil { gate.openConnections <= 1 }
            let metrics = try RawConnection(port: port)
            try metrics.send("GET /metrics HTTP/1.1\r\nHost: origin\r\n\r\n")
            let text = String(decoding: await metrics.response(timeout: .seconds(5))?.body ?? [], as: UTF8.self)
            #expect(text.contains("filelistd_http_connections_refused_total \(gate.connectionsRefused)\n"), "\(text)")
            #expect(text.contains("filelistd_http_connections_limit 4\n"))
        }
    }

    @Test("an /events stream outlives the idle timeout; past the subscriber cap a client gets 503")
    func eventStreams() async throws {
        let gate = Self.limits(idle: .milliseconds(300), subscribers: 1)
        let lists = try PublishedLists()
        try await Self.serving(gate, lists) { port in
            let stream = try RawConnection(port: port)
            try stream.send("GET /events HTTP/1.1\r\nHost: origin\r\n\r\n")
            var (opening, closedEarly) = await stream.closing(timeout: .seconds(1))
            #expect(!closedEarly, "the stream was closed as idle")
            // The first announcement follows the head; on a loaded machine, maybe after that second.
            for _ in 0..<10 where !closedEarly && !String(decoding: opening, as: UTF8.self).contains("event: lists") {
                let more = await stream.closing(timeout: .milliseconds(500))
                opening += more.bytes
                closedEarly = more.closed
            }
            #expect(String(decoding: opening, as: UTF8.self).contains("event: lists"))
            let second = try RawConnection(port: port)
            try second.send("GET /events HTTP/1.1\r\nHost: origin\r\n\r\n")
            #expect(await second.response(timeout: .seconds(5))?.status == 503)
            #expect(gate.subscribersRefused == 1)
            let later = await stream.closing(timeout: .seconds(1))
            #expect(!later.closed)
            // As a stopping server does: the streams end, so the server can stop.
            lists.catalog.close()
        }
    }

    @Test("a client that stops reading a large list is cut after the send timeout")
    func stalledBodyIsAbandoned() async throws {
        let lists = try PublishedLists()
        // Far more than the socket buffers of both ends hold.
        var big = PublishedLists.content()
        let filler = Array(String(repeating: "#", count: 1023).utf8) + [0x0A]
        big.reserveCapacity(big.count + 48 << 20)
        for _ in 0..<(48 << 10) { big += filler }
        try lists.publish(big, generation: 1)
        let size = big.count
        let gate = Self.limits(send: .milliseconds(800))
        try await Self.serving(gate, lists) { port in
            let reader = try RawConnection(port: port, receiveBuffer: 4096)
            try reader.send(Self.normalRequest)
            try await waitUntil(timeout: .seconds(20)) { gate.closed(.sendTimeout) == 1 }
            // What the socket buffers held still arrives, then the end: the list was cut.
            let received = await reader.closing(timeout: .seconds(10))
            #expect(received.closed)
            #expect(received.bytes.count < size, "the whole list arrived")
        }
    }
}

/// Polls `condition` every 20 ms until it holds; fails the test after `timeout`.
func waitUntil(
    timeout: Duration = .seconds(10), sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: @Sendable () -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else {
            Issue.record("condition not met within \(timeout)", sourceLocation: sourceLocation)
            return
        }
        try await Task.sleep(for: .milliseconds(20))
    }
}
