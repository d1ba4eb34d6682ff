import Foundation
import ListProtocol
import Testing
import TreeFixtures

#if canImport(Glibc)
    import Glibc
#endif

/// A relay of a tier: `filelistd relay` following its upstream's change stream, with an
/// rsync daemon on the copy, and the quick-mirror configuration that syncs it.
final class RelayTier: @unchecked Sendable {
    let tree: TemporaryTree
    let runtime: TemporaryTree
    let process: Process
    let base: String
    let rsync: RsyncDaemon
    var config = ""

    init(_ name: String, upstream: String) throws {
        tree = try TemporaryTree(name)
        runtime = try TemporaryTree("\(name)-run")
        let log = runtime.path("relay.log")
        process = try Command.start(
            "filelistd",
            [
                "relay", "--dir", tree.root, "--list", "fedora/fullfiletimelist-fedora", "--list",
                "alt/fullfiletimelist-alt", "--http", "127.0.0.1:0", "--name", name, "--runtime-directory",
                runtime.root, "--upstream", upstream,
            ], log: log)
        guard let port = HTTPProbe.port(inLog: { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }) else {
            process.terminate()
            throw OriginError("the relay did not serve:\n\((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        }
        base = "http://127.0.0.1:\(port)"
        rsync = try RsyncDaemon(module: "master", path: tree.root)
    }

    deinit { if process.isRunning { process.terminate() } }

    var log: String { (try? String(contentsOfFile: runtime.path("relay.log"), encoding: .utf8)) ?? "" }

    func status() async throws -> ServerStatus {
        try ServerStatus(validating: try await HTTPProbe.get("\(base)/status").body)
    }

    /// One quick-mirror run, as a timer starts it.
    func sync() throws {
        let result = try Command.run("quick-mirror", ["-c", config])
        #expect(result.status == 0, "\(result.stderr)")
    }
}

@Suite("how far behind each tier is: /status, quick-mirror status, TRACEFILE", .ownThread)
struct StatusTierTests {
    static func now() -> Double { Date().timeIntervalSince1970 }

    /// `quick-mirror status`, its exit status and its lines.
    static func check(_ arguments: [String]) throws -> (status: Int32, lines: [Substring], json: StatusCheckJSON?) {
        let result = try Command.run("quick-mirror", ["status"] + arguments)
        let out = String(decoding: result.stdout, as: UTF8.self)
        let json = arguments.contains("--json") ? try? JSONDecoder().decode(StatusCheckJSON.self, from: Data(result.stdout)) : nil
        return (result.status, out.split(separator: "\n"), json)
    }

    struct StatusCheckJSON: Decodable {
        struct Mirror: Decodable {
            var url: String
            var state: String
            var lag_seconds: Double?
            var origin_generation: Int?
        }

        var status: Int32
        var mirrors: [Mirror]
    }

    @Test("origin -> tier 1 -> tier 2: lag while a sync is held back, 0 after; the check's exit status follows")
    func lagDownTheTiers() async throws {
        let origin = try Origin()
        let tier1 = try RelayTier("tier1", upstream: origin.base)
        let tier2 = try RelayTier("tier2", upstream: tier1.base)
        let trace = tier2.runtime.path("trace")
        let metrics = tier2.runtime.path("quickmirror.prom")
        tier1.config = try origin.mirrorConfig(
            tier1.tree, lists: origin.base, remote: origin.rsync.url, extra: "NOTIFYFILELISTD=\(tier1.runtime.root)")
        tier2.config = try origin.mirrorConfig(
            tier2.tree, lists: tier1.base, remote: tier1.rsync.url,
            extra: "NOTIFYFILELISTD=\(tier2.runtime.root)\nTRACEFILE=\(trace)\nMETRICSFILE=\(metrics)")
        let logs = { "--- tier 1:\n\(tier1.log)\n--- tier 2:\n\(tier2.log)\n--- origin:\n\(origin.filelistd.log)" }
        try tier1.sync()
        try tier2.sync()
        let urls = [origin.base, tier1.base, tier2.base, trace]
        var check = try Self.check(urls + ["--max-lag", "2"])
        #expect(check.status == 0 && check.lines.count == 4, "\(check.lines)\n\(logs())")
        #expect(check.lines.allSatisfy { $0.hasPrefix("OK ") }, "\(check.lines)")

        // A change at the origin. Tier 1's relay hears of it from the origin's stream; its
        // quick-mirror has not run.
        sleepPastNextSecond()
        let before = try await origin.generation()
        try origin.upstream.file("fedora/releases/42/Packages/s/status-1.rpm", "status")
        try await origin.waitForGeneration(after: before)
        // One change may land in two generations (a busy machine stretches the settle time):
        // the origin is let settle; the lag runs from the first of them, and the newest is
        // the one the tiers must reach. The origin's `recent` times are its hops' times.
        let generation = try await Self.settled(origin)
        let originStatus = try ServerStatus(validating: try await HTTPProbe.get("\(origin.base)/status").body)
        let firstLacking = try #require(originStatus.recent.first { $0.generation > before })
        #expect(originStatus.recent.last?.generation == generation, "\(originStatus)")
        let lagFrom = try #require(InternetTime.seconds(from: firstLacking.published))
        let announcement = try Announcement(json: try await HTTPProbe.get("\(origin.base)/announcement").text)
        #expect(announcement.generation == generation, "\(announcement)")
        let published = try #require(InternetTime.seconds(from: announcement.hops[0].announced))
        #expect(DaemonProcess.wait(timeout: .seconds(10)) {
            (try? Self.blocking { try await tier1.status() })?.recent.last?.generation == generation
        }, "tier 1 never heard of generation \(generation):\n\(logs())")
        let asked = Self.now()
        var status1 = try await tier1.status()
        let answered = Self.now()
        #expect(status1.lagSeconds > 0 && status1.origin?.generation == before, "\(status1)")
        // The lag is the time since the origin's hop, within 100 ms.
        #expect(
            status1.lagSeconds >= asked - lagFrom - 0.1 && status1.lagSeconds <= answered - lagFrom + 0.1,
            "lag \(status1.lagSeconds), since the origin's hop \(asked - lagFrom)...\(answered - lagFrom)")
        #expect(status1.recent.last?.installed == nil)

        // Held back past --max-lag: the check says which tiers are behind, from the origin's times.
        while Self.now() - lagFrom < 2.3 { try await Task.sleep(for: .milliseconds(50)) }
        let checkStarted = Self.now()
        check = try Self.check(urls + ["--max-lag", "2", "--json"])
        let checkEnded = Self.now()
        #expect(check.status == 1, "\(check)")
        let states = check.json?.mirrors.map(\.state)
        #expect(states == ["ok", "behind", "behind", "behind"], "\(String(describing: check.json))")
        for mirror in check.json?.mirrors.dropFirst() ?? [] {
            let lag = mirror.lag_seconds ?? -1
            #expect(
                lag >= checkStarted - lagFrom - 0.1 && lag <= checkEnded - lagFrom + 0.1,
                "\(mirror.url): lag \(lag), since the origin's hop \(checkStarted - lagFrom)")
        }
        check = try Self.check(urls + ["--max-lag", "2"])
        #expect(check.status == 1 && check.lines.count == 4, "\(check.lines)")
        // Worst first: the tiers behind, then the origin.
        #expect(check.lines[0].hasPrefix("BEHIND \(tier1.base) (tier1): origin#\(before) "), "\(check.lines)")
        #expect(check.lines[3].hasPrefix("OK     \(origin.base) (origin): origin#\(generation) "), "\(check.lines)")

        // Tier 1 syncs: it holds the generation, its lag is 0, and its install is its hop.
        try tier1.sync()
        status1 = try await tier1.status()
        #expect(status1.lagSeconds == 0 && status1.origin?.generation == generation, "\(status1)\n\(logs())")
        let tier1Announcement = try Announcement(json: try await HTTPProbe.get("\(tier1.base)/announcement").text)
        #expect(tier1Announcement.hops.map(\.host) == ["origin", "tier1"], "\(tier1Announcement)")
        let installed = try #require(status1.recent.last { $0.generation == generation }?.installed)
        let hopDelay =
            (InternetTime.seconds(from: tier1Announcement.hops[1].announced) ?? 0)
            - (InternetTime.seconds(from: tier1Announcement.hops[0].announced) ?? 0)
        let statusDelay = (InternetTime.seconds(from: installed) ?? 0) - published
        #expect(abs(statusDelay - hopDelay) < 0.1, "status says \(statusDelay) s, the hops \(hopDelay) s")

        // Tier 2 has heard of it from tier 1's stream, and is now the one behind.
        #expect(DaemonProcess.wait(timeout: .seconds(10)) {
            ((try? Self.blocking { try await tier2.status() })?.lagSeconds ?? 0) > 0
        }, "tier 2 never heard of generation \(generation):\n\(logs())")
        check = try Self.check(urls + ["--max-lag", "2"])
        #expect(check.status == 1, "\(check.lines)")
        #expect(check.lines[0].hasPrefix("BEHIND \(tier2.base) (tier2)"), "\(check.lines)")
        #expect(check.lines.contains { $0.hasPrefix("OK     \(tier1.base) (tier1)") }, "\(check.lines)")

        try tier2.sync()
        check = try Self.check(urls + ["--max-lag", "2"])
        #expect(check.status == 0 && check.lines.allSatisfy { $0.hasPrefix("OK ") }, "\(check.lines)\n\(logs())")
        let status2 = try await tier2.status()
        #expect(status2.route.map(\.host) == ["origin", "tier1", "tier2"] && status2.origin?.generation == generation)
        let traced = try String(contentsOfFile: trace, encoding: .utf8)
        #expect(traced.contains("Origin-Generation: \(generation)\n") && traced.contains("Lag-Seconds: 0.000\n"), "\(traced)")
        let prom = try String(contentsOfFile: metrics, encoding: .utf8)
        #expect(prom.contains("quickmirror_origin_generation \(generation)\n"), "\(prom)")
        #expect(prom.contains("quickmirror_origin_lag_seconds 0.000\n"), "\(prom)")

        // A mirror that cannot be reached: exit 2, one line for it.
        let unreachable = "http://127.0.0.1:\(try LoopbackSocket.closedPort())"
        check = try Self.check(urls + [unreachable, "--max-lag", "2"])
        #expect(check.status == 2 && check.lines.count == 5, "\(check.lines)")
        #expect(check.lines[0].hasPrefix("ERROR  \(unreachable): cannot connect"), "\(check.lines)")

        // The relay's metrics.
        let scraped = try await HTTPProbe.get("\(tier1.base)/metrics").text
        #expect(scraped.contains("filelistd_origin_generation \(generation)"), "\(scraped)")
        #expect(scraped.contains("filelistd_upstream_lag_seconds 0"), "\(scraped)")
    }

    /// The origin's generation once it has stopped publishing (the same for a second).
    static func settled(_ origin: Origin) async throws -> Int {
        var generation = try await origin.generation()
        for _ in 0..<20 {
            try await Task.sleep(for: .seconds(1))
            let now = try await origin.generation()
            if now == generation { return generation }
            generation = now
        }
        throw OriginError("the origin kept publishing, at generation \(generation):\n\(origin.filelistd.log)")
    }

    /// Runs async work from a synchronous wait condition.
    static func blocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
        let result = LockedResult<T>()
        let done = DispatchSemaphore(value: 0)
        Task {
            do { result.set(.success(try await body())) } catch { result.set(.failure(error)) }
            done.signal()
        }
        done.wait()
        return try result.get()
    }
}

final class LockedResult<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Result<T, any Error>?

    func set(_ value: Result<T, any Error>) { lock.withLock { self.value = value } }
    func get() throws -> T { try lock.withLock { value! }.get() }
}
