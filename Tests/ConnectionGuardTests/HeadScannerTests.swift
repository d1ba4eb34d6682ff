@testable import ConnectionGuard
import LinuxCalls
import Testing

@Suite("Reading request heads ahead of the decoder")
struct HeadScannerTests {
    static func scan(_ chunks: [String], head: Int = 16384, line: Int = 8192, body: Int64 = 65536)
        -> (outcomes: [HeadScanner.Outcome], midRequest: Bool)
    {
        var scanner = HeadScanner(maxHeadBytes: head, maxLineBytes: line, maxBodyBytes: body)
        let outcomes = chunks.map { chunk in Array(chunk.utf8).withUnsafeBytes { scanner.scan($0) } }
        return (outcomes, scanner.isMidRequest)
    }

    @Test("pipelined heads are counted however the bytes are cut")
    func pipelinedHeads() {
        let two = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"
        #expect(Self.scan([two]).outcomes == [.init(heads: 2)])
        let cut = Self.scan(two.map { String($0) })
        #expect(cut.outcomes.reduce(0) { $0 + $1.heads } == 2)
        #expect(!cut.midRequest)
        #expect(Self.scan(["GET /a HTTP/1.1\r\nHo"]).midRequest)
        // Bare LF ends lines too, and empty lines before a request are skipped.
        #expect(Self.scan(["\r\n\nGET /a HTTP/1.0\nHost: x\n\n"]).outcomes == [.init(heads: 1)])
    }

    @Test("a body with a Content-Length is skipped, not read as a head")
    func bodiesAreSkipped() {
        let body = String(repeating: "\r\n\r\n", count: 10)
        let request = "POST /a HTTP/1.1\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)GET /b HTTP/1.1\r\n\r\n"
        #expect(Self.scan([request]).outcomes == [.init(heads: 2)])
        #expect(Self.scan(["POST /a HTTP/1.1\r\ncontent-length:  3 \r\n\r\nab"]).midRequest)
    }

    @Test(
        "what is refused, and why",
        arguments: [
            ("GET /\(String(repeating: "a", count: 9000)) HTTP/1.1\r\n\r\n", HeadScanner.Refusal.uriTooLong),
            ("GET / HTTP/1.1\r\nX: \(String(repeating: "a", count: 9000))\r\n\r\n", .headTooLarge),
            (
                "GET / HTTP/1.1\r\n" + String(repeating: "X-A: \(String(repeating: "a", count: 100))\r\n", count: 200),
                .headTooLarge
            ),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", .lengthRequired),
            ("POST / HTTP/1.1\r\nContent-Length: 70000\r\n\r\n", .bodyTooLarge),
            ("POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", .badLength),
            ("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", .badLength),
            (String(repeating: "\r\n", count: 9000), .headTooLarge),
        ])
    func refusals(_ request: String, _ refusal: HeadScanner.Refusal) {
        #expect(Self.scan([request]).outcomes.last?.refusal == refusal)
    }

    @Test("the caps follow the descriptor limit, with a reserve for the server's own work")
    func sizing() {
        var requested = ServerLimits()
        // systemd's default for a unit that sets nothing, raised to its hard limit at start.
        let raised = ServerLimits.sized(
            descriptors: OpenFileLimit(soft: 524_288, hard: 524_288), inUse: 20, descriptorsPerConnection: 2,
            requested: requested, connectionsGiven: false)
        #expect(raised.limits.maxConnections == 10_000)
        #expect(raised.note == nil)
        // A hard limit of 1,024 leaves room for (1024 - 20 - 128) / 2 connections.
        let tight = ServerLimits.sized(
            descriptors: OpenFileLimit(soft: 1024, hard: 1024), inUse: 20, descriptorsPerConnection: 2,
            requested: requested, connectionsGiven: false)
        #expect(tight.sizing.reserve == 148)
        #expect(tight.limits.maxConnections == 438)
        #expect(tight.limits.maxSubscribers == 438)
        requested.maxConnections = 5000
        let asked = ServerLimits.sized(
            descriptors: OpenFileLimit(soft: 1024, hard: 1024), inUse: 20, descriptorsPerConnection: 2,
            requested: requested, connectionsGiven: true)
        #expect(asked.limits.maxConnections == 438)
        #expect(asked.note?.contains("LimitNOFILE") == true)
    }

    @Test("a cap reached is counted every time and logged at most once a minute")
    func gateCounts() {
        var limits = ServerLimits()
        limits.maxConnections = 2
        limits.maxSubscribers = 1
        let gate = ConnectionGate(limits: limits)
        #expect(gate.admitConnection())
        #expect(gate.admitConnection())
        #expect(!gate.admitConnection())
        gate.releaseConnection()
        #expect(gate.admitConnection())
        #expect(gate.connectionsRefused == 1)
        var ticket = gate.admitSubscriber()
        #expect(ticket != nil)
        #expect(gate.admitSubscriber() == nil)
        ticket = nil
        #expect(gate.openSubscribers == 0)
        #expect(gate.prometheusText(prefix: "x", subscriberPrefix: "x_sse").contains("x_sse_refused_total 1\n"))
    }
}
