import Foundation
import ListProtocol
import Testing
import TreeFixtures

@testable import MirrorClient

#if canImport(Glibc)
    import Glibc
#endif

/// `quick-mirror status`: the comparison with the reference (in-process), and the
/// command against servers that answer badly (the binary, a python3 web server).
@Suite("quick-mirror status", .ownThread)
struct StatusCommandTests {
    static func time(_ seconds: Double) -> String { InternetTime.format(seconds) }

    /// An origin's status at `now`: generations 1...newest, one every 10 s up to `now`.
    static func origin(newest: Int, now: Double, name: String = "origin") -> ServerStatus {
        let recent = (1...newest).map {
            ServerStatus.Seen(
                generation: $0, published: time(now - Double(newest - $0) * 10),
                installed: time(now - Double(newest - $0) * 10))
        }
        return ServerStatus(
            now: time(now), server: name, role: "origin", generation: newest, lagSeconds: 0, subscribers: 1,
            origin: ServerStatus.Origin(name: name, generation: newest, published: recent.last!.published),
            installed: recent.last!.installed, upstream: nil, route: [], lists: [], recent: recent)
    }

    /// A relay holding `generation` of `reference`, with a clock of its own.
    static func mirror(holding generation: Int, of reference: ServerStatus, clock: Double) -> ServerStatus {
        let held = reference.recent.first { $0.generation == generation }!
        return ServerStatus(
            now: time(clock), server: "tier1", role: "relay", generation: 3, lagSeconds: 0, subscribers: 0,
            origin: ServerStatus.Origin(name: "origin", generation: generation, published: held.published),
            installed: held.published, upstream: nil, route: [], lists: [], recent: [])
    }

    @Test("lag from the reference's own times: the mirror's clock does not count")
    func lagFromReference() {
        let now = 1_800_000_000.0
        // The reference answered 5 s after the origin published generation 10.
        var reference = Self.origin(newest: 10, now: now)
        reference.now = Self.time(now + 5)
        let check = StatusCheck(maxLag: 15)
        // The mirror's clock is a day off: it changes nothing.
        let report = check.compare(
            urls: ["ref", "current", "behind", "far"],
            [
                .success(.status(reference)),
                .success(.status(Self.mirror(holding: 10, of: reference, clock: now + 86400))),
                .success(.status(Self.mirror(holding: 9, of: reference, clock: now - 86400))),
                .success(.status(Self.mirror(holding: 7, of: reference, clock: now))),
            ])
        #expect(report.mirrors.map(\.state) == [.ok, .ok, .ok, .behind])
        // The lag runs from the publishing of the oldest generation lacking (8 for "far").
        #expect(report.mirrors.map(\.lagSeconds) == [0, 0, 5, 25])
        #expect(report.mirrors.map(\.lagGenerations) == [0, 0, 1, 3])
        #expect(report.status == 1)
        #expect(report.mirrors[3].text.hasPrefix("BEHIND far (tier1): origin#7 published "), "\(report.mirrors[3].text)")
        #expect(report.mirrors[3].text.contains("lag 25.000 s (3 generations)"))
    }

    @Test("a trace file is a mirror too")
    func traceMirror() throws {
        let now = 1_800_000_000.0
        var reference = Self.origin(newest: 5, now: now)
        reference.now = Self.time(now + 10)
        let trace = TraceFile(
            host: "web1", date: Self.time(now), started: Self.time(now - 5),
            origin: ServerStatus.Origin(name: "origin", generation: 4, published: reference.recent[3].published),
            installed: Self.time(now - 8), lagSeconds: 0, upstream: "http://tier1:8080")
        let parsed = try TraceFile(parsing: Array(trace.text.utf8))
        #expect(parsed == trace)
        let report = StatusCheck(maxLag: 600).compare(
            urls: ["ref", "trace"], [.success(.status(reference)), .success(.trace(parsed))])
        #expect(report.mirrors[1].state == .ok && report.mirrors[1].lagSeconds == 10)
        #expect(report.mirrors[1].server == "web1" && report.mirrors[1].installed == Self.time(now - 8))
    }

    @Test("another origin, a generation newer than the origin's newest, an origin restart")
    func doubtfulMirrors() {
        let now = 1_800_000_000.0
        let reference = Self.origin(newest: 10, now: now)
        var future = Self.mirror(holding: 10, of: reference, clock: now)
        future.origin = ServerStatus.Origin(name: "origin", generation: 11, published: Self.time(now + 5))
        var other = Self.mirror(holding: 10, of: reference, clock: now)
        other.origin?.name = "elsewhere"
        // Generation 50 of the origin's last run, before it restarted and counted from 1.
        var beforeRestart = Self.mirror(holding: 10, of: reference, clock: now)
        beforeRestart.origin = ServerStatus.Origin(name: "origin", generation: 50, published: Self.time(now - 1000))
        // Before the restart, the mirror lacks every generation of the new count: its lag
        // runs from generation 1's publishing (90 s), more than --max-lag.
        let report = StatusCheck(maxLag: 60).compare(
            urls: ["ref", "future", "other", "restart"],
            [.success(.status(reference)), .success(.status(future)), .success(.status(other)),
             .success(.status(beforeRestart))])
        #expect(report.mirrors.map(\.state) == [.ok, .error, .error, .behind])
        #expect(report.mirrors[1].reason?.contains("newer than the origin's newest") == true)
        #expect(report.mirrors[2].reason?.contains("follows origin 'elsewhere'") == true)
        #expect(report.mirrors[3].lagSeconds == 90 && report.mirrors[3].lagGenerations == 10)
        #expect(report.status == 2)
    }

    @Test("status answers that are not statuses", arguments: [
        ("<html>no</html>", "not JSON"),
        ("{\"now\": \"yesterday\"}", "not a status answer: no server"),
        ("", "an empty answer"),
        ("QuickMirror-Trace: 1\nOrigin-Generation: -1\n", "trace file without Date"),
    ])
    func notStatuses(text: String, reason: String) {
        #expect(throws: StatusProblem.self) { try StatusFetch.reading(Array(text.utf8)) }
        do {
            _ = try StatusFetch.reading(Array(text.utf8))
        } catch {
            #expect(error.description.hasPrefix(reason), "\(error)")
        }
    }

    /// The command, one line per mirror, against a web server of bad answers.
    static func run(_ arguments: [String]) throws -> (status: Int32, lines: [Substring]) {
        let result = try Command.run("quick-mirror", ["status"] + arguments)
        let out = String(decoding: result.stdout, as: UTF8.self)
        return (result.status, out.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map { $0 })
    }

    @Test("a broken or hostile answer is exit 2 and one line, never a crash")
    func hostileAnswers() throws {
        let site = try TemporaryTree("status-answers")
        let now = Date().timeIntervalSince1970
        let reference = Self.origin(newest: 10, now: now)
        let encoder = JSONEncoder()
        func json(_ status: ServerStatus) throws -> String { String(decoding: try encoder.encode(status), as: UTF8.self) }
        var negative = Self.mirror(holding: 9, of: reference, clock: now)
        negative.generation = -4
        var negativeLag = Self.mirror(holding: 9, of: reference, clock: now)
        negativeLag.lagSeconds = -1
        var future = Self.mirror(holding: 9, of: reference, clock: now)
        future.origin = ServerStatus.Origin(name: "origin", generation: 4_000_000_000, published: Self.time(now + 3600))
        let answers: [(String, String, String)] = [
            ("ref", try json(reference), ""),
            ("good", try json(Self.mirror(holding: 10, of: reference, clock: now)), ""),
            ("notjson", "<html><body>It works!</body></html>\n", "not JSON"),
            ("binary", String(decoding: (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7919) }, as: UTF8.self), "not JSON"),
            ("negative", try json(negative), "negative generation -4"),
            ("negativelag", try json(negativeLag), "lag_seconds -1.0 is not >= 0"),
            ("bignumber", try json(reference).replacingOccurrences(of: "\"generation\":10", with: "\"generation\":1e300"), "not a status answer: a figure out of range"),
            ("future", try json(future), "newer than the origin's newest"),
            ("deep", "{\"now\":" + String(repeating: "[", count: 200_000), "not"),
            ("huge", "{\"now\":\"" + String(repeating: "x", count: 6 << 20) + "\"}", "answer larger than 4 MiB"),
            ("trace", "QuickMirror-Trace: 1\nDate: tomorrow\n", "trace Date is not an RFC 3339 time"),
        ]
        for (name, body, _) in answers {
            try site.file("\(name)/status", body)
        }
        let runtime = try TemporaryTree("status-web")
        let (server, base) = try TierTests.webServer(
            ["-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", site.root],
            log: runtime.path("http.log"))
        defer { TierTests.stop(server) }
        let good = try Self.run(["\(base)/ref/status", "\(base)/good/status"])
        #expect(good.status == 0 && good.lines.count == 2 && good.lines.allSatisfy { $0.hasPrefix("OK ") }, "\(good)")
        for (name, _, reason) in answers.dropFirst(2) {
            let url = "\(base)/\(name)/status"
            let result = try Self.run(["\(base)/ref/status", url])
            #expect(result.status == 2, "\(name): \(result)")
            #expect(result.lines.count == 2, "\(name): \(result)")
            // Worst first: the line of the broken answer, then the reference's.
            #expect(result.lines.first?.hasPrefix("ERROR  \(url)") == true, "\(name): \(result)")
            #expect(result.lines.first?.contains(reason) == true, "\(name): \(result)")
            // As the reference, too: nothing can be compared, still one line each.
            let asReference = try Self.run([url, "\(base)/good/status"])
            #expect(asReference.status == 2 && asReference.lines.count == 2, "\(name) as reference: \(asReference)")
        }
    }

    @Test("an unreachable URL, and one that never answers, are exit 2 and one line")
    func unreachable() throws {
        // A port that accepts (the kernel's backlog) and never answers.
        let listener = try LoopbackSocket(listening: true)
        let silent = "http://127.0.0.1:\(listener.port)"
        let refused = "http://127.0.0.1:\(try LoopbackSocket.closedPort())"
        var result = try Self.run([refused])
        #expect(result.status == 2 && result.lines == ["ERROR  \(refused): cannot connect: Connection refused"], "\(result)")
        let started = ContinuousClock.now
        result = try withExtendedLifetime(listener) { try Self.run([silent, "--timeout", "1"]) }
        #expect(result.status == 2 && result.lines == ["ERROR  \(silent): no answer within 1 s"], "\(result)")
        #expect(ContinuousClock.now - started < .seconds(10))
        result = try Self.run(["/nonexistent/trace", "--json"])
        #expect(result.status == 2 && result.lines.count == 1)
        let report = try JSONDecoder().decode(StatusCheck.Report.self, from: Data(result.lines[0].utf8))
        #expect(report.status == 2 && report.mirrors.first?.reason?.hasPrefix("cannot read /nonexistent/trace") == true)
    }
}
