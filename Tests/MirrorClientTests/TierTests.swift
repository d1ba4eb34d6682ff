import Foundation
import Testing
import TreeFixtures

/// An origin: the upstream tree of `MirrorFixture`'s shape, its lists kept by a real
/// filelistd that serves them over HTTP, and its content served by a real rsync daemon.
final class Origin: @unchecked Sendable {
    let upstream: TemporaryTree
    let rsync: RsyncDaemon
    let runtime: TemporaryTree
    private(set) var filelistd: DaemonProcess
    private(set) var base: String

    init() throws {
        upstream = try TemporaryTree("origin")
        try MirrorFixture.populate(upstream)
        rsync = try RsyncDaemon(module: "master", path: upstream.root)
        runtime = try TemporaryTree("origin-config")
        (filelistd, base) = try Self.start(upstream, runtime)
    }

    static func start(_ upstream: TemporaryTree, _ runtime: TemporaryTree) throws -> (DaemonProcess, String) {
        let config = runtime.path("filelistd.conf")
        // fullfilelist/imagelist off: this mirror's config has no EXTRAFILES, and the tree
        // comparison would see them.
        try
            "top = \(upstream.root)\nmodules = fedora alt\nlinked = fedora alt\nchecksum = yes\nsettle = 0.1\nfullfilelist = no\nimagelist = no\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(
            root: upstream.root, arguments: ["--http", "127.0.0.1:0", "--name", "origin"], configFile: config)
        guard let port = HTTPProbe.port(inLog: { daemon.log }),
            DaemonProcess.wait(until: { daemon.log.contains("lists announced") })
        else {
            throw OriginError("filelistd did not serve its lists over HTTP:\n\(daemon.log)")
        }
        return (daemon, "http://127.0.0.1:\(port)")
    }

    /// A new daemon: its delta journal starts empty.
    func restart() throws {
        filelistd.stop()
        (filelistd, base) = try Self.start(upstream, runtime)
    }

    /// The generation the origin announces now.
    func generation() async throws -> Int {
        let response = try await HTTPProbe.get("\(base)/announcement")
        guard let range = response.text.range(of: #""generation":[0-9]+"#, options: .regularExpression) else {
            return 0
        }
        return Int(response.text[range].split(separator: ":").last ?? "") ?? 0
    }

    /// Waits until the origin announced a generation after `generation`.
    func waitForGeneration(after generation: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if try await self.generation() > generation { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw OriginError("no new generation after \(generation):\n\(filelistd.log)")
    }

    /// Waits until the list the origin serves at `path` satisfies `condition` (and,
    /// with `acceptingGzip`, comes gzip-compressed to a client that asks).
    func waitForServedList(_ path: String, acceptingGzip: Bool = false, _ condition: (String) -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            let response = try await HTTPProbe.get(
                "\(base)/\(path)", headers: acceptingGzip ? ["Accept-Encoding": "gzip"] : [:])
            if !acceptingGzip || response.headers["content-encoding"] == "gzip", condition(response.text) { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw OriginError("the served \(path) never reached the expected state:\n\(filelistd.log)")
    }

    /// A downstream configuration reading lists from `lists` and content from `remote`.
    func mirrorConfig(_ mirror: TemporaryTree, lists: String, remote: String, extra: String = "") throws -> String {
        let config = mirror.path(".qfm.conf")
        try """
        DESTD=\(mirror.root)
        REMOTE=\(remote)
        LISTSOURCE=\(lists)
        MASTERMODULE=master
        MODULES=(fedora-enchilada fedora-alt)
        MODULEMAPPING=(fedora-enchilada fedora fedora-alt alt)
        MAXRETRIES=0
        \(extra)
        """.write(toFile: config, atomically: true, encoding: .utf8)
        return config
    }

    func identical(_ mirror: TemporaryTree) -> Bool {
        Command.runShell(
            "diff -r --no-dereference -x '.quick-mirror*' -x '.qfm.conf' \(upstream.root) \(mirror.root) >/dev/null 2>&1"
        )
            == 0
    }
}

struct OriginError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

@Suite("quick-mirror with lists over HTTP from filelistd, and down a chain of tiers", .ownThread)
struct TierTests {
    @Test("whole list first, then 304 while unchanged, a delta after a change, the whole list when the server forgot")
    func listsOverHTTP() async throws {
        let origin = try Origin()
        let mirror = try TemporaryTree("http-mirror")
        let config = try origin.mirrorConfig(mirror, lists: origin.base, remote: origin.rsync.url)
        func sync(_ context: String) throws -> String {
            let result = try Command.run(
                "quick-mirror", ["-c", config, "-d", "2", "--set", "LISTSOURCE=\(origin.base)"])
            #expect(result.status == 0, "\(context): \(result.stderr)")
            #expect(origin.identical(mirror), "\(context): the mirror differs from the origin")
            return result.stderr + String(decoding: result.stdout, as: UTF8.self)
        }
        let fedora = "fedora/fullfiletimelist-fedora"
        let alt = "alt/fullfiletimelist-alt"

        // The first fetch is compressed once the origin has made the gzip form: it is
        // checked against the list's SHA-256, and the list's own ETag is kept (the
        // delta further down starts from it).
        try await origin.waitForServedList(fedora, acceptingGzip: true) { _ in true }
        var log = try sync("first sync")
        #expect(log.contains("list \(fedora): whole list, ") && log.contains(" bytes gzip-compressed"), "\(log)")
        let etags = try String(contentsOfFile: mirror.path(".quick-mirror-last-run.etags"), encoding: .utf8)
        #expect(etags.contains(fedora) && !etags.contains("-gzip"), "\(etags)")

        log = try sync("nothing changed")
        #expect(log.contains("list \(fedora): unchanged") && log.contains("list \(alt): unchanged"), "\(log)")
        #expect(log.contains("nothing changed upstream"), "\(log)")

        // An installed list replaced behind quick-mirror's back (another client, a run over
        // rsync) is not the one its ETag was saved with: it is fetched whole, not taken
        // as current on a 304.
        let installed = mirror.path(fedora)
        try FileManager.default.copyItem(atPath: installed, toPath: installed + ".copy")
        _ = rename(installed + ".copy", installed)
        log = try sync("installed list replaced")
        #expect(log.contains("list \(fedora): whole list") && log.contains("list \(alt): unchanged"), "\(log)")

        sleepPastNextSecond()
        let generation = try await origin.generation()
        try origin.upstream.file("fedora/releases/41/Packages/n/new-1.rpm", "new")
        try origin.upstream.remove("fedora/releases/40/Packages/f/filler-3.rpm")
        try await origin.waitForGeneration(after: generation)
        // Two changes may land in two generations (a busy machine stretches the settle
        // time): sync only once the served list has both, or rsync is asked for a file
        // that is gone (code 23), as any client would be between the two.
        try await origin.waitForServedList(fedora) { $0.contains("new-1.rpm") && !$0.contains("filler-3.rpm") }
        log = try sync("after a change")
        #expect(log.contains("list \(fedora): delta of "), "\(log)")
        #expect(log.contains("list \(alt): unchanged"), "\(log)")
        #expect(FileManager.default.fileExists(atPath: mirror.path("fedora/releases/41/Packages/n/new-1.rpm")))

        // A change while the server was down: the restarted server has no delta from the
        // mirror's version (410), so the whole list comes. The other list's ETag is its
        // content's hash, so it is still current.
        origin.filelistd.stop()
        sleepPastNextSecond()
        try origin.upstream.file("fedora/releases/41/Packages/n/newer-1.rpm", "newer")
        try origin.restart()
        log = try sync("after a restart")
        #expect(log.contains("list \(fedora): whole list"), "\(log)")
        #expect(log.contains("list \(alt): unchanged"), "\(log)")
    }

    @Test("deltas applied where the list lies, round after round: the same plan as reading the lists whole, the mirror the origin's")
    func deltasAppliedInPlace() async throws {
        let origin = try Origin()
        let mirror = try TemporaryTree("in-place-mirror")
        let config = try origin.mirrorConfig(mirror, lists: origin.base, remote: origin.rsync.url)
        let records = mirror.path(".quick-mirror-last-run.lists")
        // A second mirror whose records are removed before each run: it reads the lists whole.
        let reading = try TemporaryTree("whole-read-mirror")
        let readingConfig = try origin.mirrorConfig(reading, lists: origin.base, remote: origin.rsync.url)
        let fedora = "fedora/fullfiletimelist-fedora"
        func run(_ arguments: [String], _ context: String, config: String? = nil) throws -> String {
            let result = try Command.run(
                "quick-mirror", ["-c", config ?? config_, "-d", "2", "--set", "LISTSOURCE=\(origin.base)"] + arguments)
            #expect(result.status == 0, "\(context): \(result.stderr)")
            return result.stderr + String(decoding: result.stdout, as: UTF8.self)
        }
        let config_ = config
        func summary(_ log: String) -> Substring? { log.split(separator: "\n").last { $0.contains("synced ") } }
        /// What a dry run would do: its plan, without the log's times and list fetches.
        func plan(_ log: String) -> [Substring] {
            log.split(separator: "\n").compactMap { line in
                line.range(of: "would ").map { line[$0.lowerBound...] }
            }
        }
        try await origin.waitForServedList(fedora) { _ in true }
        _ = try run([], "first sync")
        _ = try run([], "first sync, reading", config: readingConfig)
        #expect(origin.identical(mirror) && origin.identical(reading))
        #expect(FileManager.default.fileExists(atPath: records), "no record of the installed lists")

        var random = SeededRandom(seed: 29)
        var present: [String] = []
        let repomd = "fedora/releases/40/repodata/repomd.xml"
        var summaries: [Substring] = []
        for round in 0..<6 {
            sleepPastNextSecond()
            let generation = try await origin.generation()
            // New files (some in new directories), a rewritten one of another size, a removed one.
            var added: [String] = []
            for _ in 0..<Int(random.next() % 3 + 1) {
                let path = "fedora/releases/4\(random.next() % 3)/Packages/r\(random.next() % 4)/round\(round)-\(random.next() % 1000).rpm"
                _ = try origin.upstream.file(path, String(repeating: "r", count: Int(random.next() % 50)))
                added.append(path)
            }
            var removed: [String] = []
            if !present.isEmpty {
                let index = Int(random.next() % UInt64(present.count))
                if round % 2 == 1 {
                    removed.append(present.remove(at: index))
                    try origin.upstream.remove(removed[0])
                } else {
                    _ = try origin.upstream.file(present[index], String(repeating: "s", count: 60 + round))
                }
            }
            // A checksummed file: the delta carries the list's checksum sections anew.
            if round == 2 { _ = try origin.upstream.file(repomd, "<repomd changed/>") }
            present += added
            try await origin.waitForGeneration(after: generation)
            try await origin.waitForServedList(fedora) { list in
                added.allSatisfy { list.contains(String($0.dropFirst("fedora/".count))) }
                    && removed.allSatisfy { !list.contains(String($0.dropFirst("fedora/".count))) }
            }
            // The plan from the change alone, and from the whole lists (no records): the same.
            let inPlace = try run(["-n"], "round \(round), dry run")
            #expect(inPlace.contains("list \(fedora): delta of ") && inPlace.contains("applied in place"), "round \(round): \(inPlace)")
            let saved = try Data(contentsOf: URL(fileURLWithPath: records))
            try FileManager.default.removeItem(atPath: records)
            let whole = try run(["-n"], "round \(round), dry run without records")
            #expect(!whole.contains("applied in place"), "\(whole)")
            try saved.write(to: URL(fileURLWithPath: records))
            #expect(plan(inPlace) == plan(whole), "round \(round): from the change:\n\(inPlace)\nwhole:\n\(whole)")

            // And for real, beside the mirror that reads the lists whole: the same summary,
            // given the same last run (entries newer than it are fetched again).
            let lastRun = try Data(contentsOf: URL(fileURLWithPath: mirror.path(".quick-mirror-last-run")))
            try lastRun.write(to: URL(fileURLWithPath: reading.path(".quick-mirror-last-run")))
            let log = try run([], "round \(round)")
            #expect(log.contains("applied in place"), "round \(round): \(log)")
            #expect(origin.identical(mirror), "round \(round): the mirror differs from the origin\n\(log)")
            try? FileManager.default.removeItem(atPath: reading.path(".quick-mirror-last-run.lists"))
            let readLog = try run([], "round \(round), reading", config: readingConfig)
            #expect(!readLog.contains("applied in place") && origin.identical(reading), "\(readLog)")
            #expect(summary(log) != nil && summary(log) == summary(readLog), "round \(round):\n\(log)\n\(readLog)")
            summaries += [summary(log)].compactMap { $0 }
            let installed = try Data(contentsOf: URL(fileURLWithPath: mirror.path(fedora)))
            let served = try await HTTPProbe.get("\(origin.base)/\(fedora)")
            #expect(Array(installed) == Array(served.body), "round \(round): the installed list is not the origin's")
        }

        // Every kind of change was planned from the change: fetches, deletions, a checksum.
        #expect(summaries.count == 6, "\(summaries)")
        #expect(summaries.contains { $0.contains(" 1 deleted") }, "\(summaries)")
        #expect(summaries.contains { !$0.contains(" 0 checksums verified") }, "\(summaries)")

        // Records that do not decode are ignored: the next delta is applied from the bytes.
        try Data("not a record".utf8).write(to: URL(fileURLWithPath: records))
        sleepPastNextSecond()
        let generation = try await origin.generation()
        _ = try origin.upstream.file("fedora/releases/42/Packages/z/after-garbage.rpm", "z")
        try await origin.waitForGeneration(after: generation)
        try await origin.waitForServedList(fedora) { $0.contains("after-garbage.rpm") }
        let log = try run([], "garbage records")
        #expect(log.contains("list \(fedora): delta of ") && !log.contains("applied in place"), "\(log)")
        #expect(origin.identical(mirror))
    }

    @Test("lists from a plain web server (no ETag deltas, no /events): follow polls and keeps the mirror in step")
    func plainWebServer() throws {
        let fixture = try MirrorFixture()
        let runtime = try TemporaryTree("web")
        let (server, base) = try Self.webServer(
            ["-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", fixture.upstream.root],
            log: runtime.path("http.log"))
        defer { Self.stop(server) }
        let followLog = runtime.path("follow.log")
        let follow = try Command.start(
            "quick-mirror",
            ["follow", "-c", fixture.config, "--set", "LISTSOURCE=\(base)", "--interval", "0.3", "-d", "2"],
            log: followLog)
        defer { if follow.isRunning { follow.terminate() } }
        let followed = { (try? String(contentsOfFile: followLog, encoding: .utf8)) ?? "" }
        let identical = {
            Command.runShell(
                "diff -r --no-dereference -x '.quick-mirror*' -x '.qfm.conf' \(fixture.upstream.root) \(fixture.mirror.root) >/dev/null"
            ) == 0
        }
        #expect(DaemonProcess.wait(timeout: .seconds(60), until: identical), "first sync: \(followed())")
        sleepPastNextSecond()
        try fixture.upstream.file("fedora/releases/42/Packages/w/web-1.rpm", "web")
        try fixture.publish()
        #expect(DaemonProcess.wait(timeout: .seconds(60), until: identical), "the change: \(followed())")
        #expect(followed().contains("no change stream at \(base)/events (HTTP 404); polling"), "\(followed())")
        #expect(followed().contains("whole list"))
        // The server's Last-Modified gives the installed list upstream's time, to the second.
        let list = "fedora/fullfiletimelist-fedora"
        func seconds(_ path: String) throws -> Int {
            let date = try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date
            return Int((date ?? .distantPast).timeIntervalSince1970.rounded(.down))
        }
        #expect(try seconds(fixture.mirror.path(list)) == seconds(fixture.upstream.path(list)), "\(followed())")
        kill(follow.processIdentifier, SIGTERM)
        #expect(DaemonProcess.wait(timeout: .seconds(10)) { !follow.isRunning })
    }

    @Test("a list request answered 503 is retried (MAXRETRIES), and the run then succeeds")
    func retriesOnServerErrors() throws {
        let fixture = try MirrorFixture()
        let runtime = try TemporaryTree("busy-web")
        // A web server whose first answer is 503, as an upstream that is restarting gives.
        let script = """
            import functools, http.server, sys
            answered = []
            class Handler(http.server.SimpleHTTPRequestHandler):
                def do_GET(self):
                    answered.append(self.path)
                    if len(answered) == 1:
                        self.send_response(503)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    super().do_GET()
            server = http.server.ThreadingHTTPServer(
                ("127.0.0.1", 0), functools.partial(Handler, directory=sys.argv[1]))
            print("port", server.server_address[1], flush=True)
            server.serve_forever()
            """
        try script.write(toFile: runtime.path("busy.py"), atomically: true, encoding: .utf8)
        let (server, base) = try Self.webServer(
            [runtime.path("busy.py"), fixture.upstream.root], log: runtime.path("http.log"))
        defer { Self.stop(server) }
        let result = try Command.run(
            "quick-mirror", ["-c", fixture.config, "--set", "LISTSOURCE=\(base)", "--set", "MAXRETRIES=3", "-d", "1"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("answered HTTP 503; retry 1 of 2"), "\(result.stderr)")
        fixture.expectIdentical("after the retry")
    }

    /// Stops a python3 server for good. SIGKILL, because it inherits the test runner's
    /// signal mask, in which SIGTERM is blocked: terminate() left it running after the tests.
    static func stop(_ server: Process) {
        guard server.isRunning else { return }
        kill(server.processIdentifier, SIGKILL)
        server.waitUntilExit()
    }

    /// A python3 web server on 127.0.0.1, and its base URL once it said `port N`.
    static func webServer(_ arguments: [String], log: String) throws -> (Process, String) {
        let server = try Command.start("/usr/bin/python3", arguments, log: log, stdoutToLog: true)
        var port: Int?
        DaemonProcess.wait {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            guard let range = text.range(of: #"port [0-9]+"#, options: .regularExpression) else { return false }
            port = Int(text[range].dropFirst(5))
            return port != nil
        }
        guard let port else {
            Self.stop(server)
            throw OriginError(
                "the web server did not say its port:\n\((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        }
        return (server, "http://127.0.0.1:\(port)")
    }

    @Test("a change at the origin reaches the second tier through the change streams, carrying its hops")
    func chainOfTiers() async throws {
        let origin = try Origin()
        // Tier 1: quick-mirror follows the origin and tells its relay; tier 2 follows the relay.
        let tier1 = try TemporaryTree("tier1")
        let relayRuntime = try TemporaryTree("tier1-run")
        let relayLog = relayRuntime.path("relay.log")
        let relay = try Command.start(
            "filelistd",
            [
                "relay", "--dir", tier1.root, "--list", "fedora/fullfiletimelist-fedora", "--list",
                "alt/fullfiletimelist-alt", "--http", "127.0.0.1:0", "--name", "tier1", "--runtime-directory",
                relayRuntime.root,
            ], log: relayLog)
        defer { if relay.isRunning { relay.terminate() } }
        let relayPort = try #require(
            HTTPProbe.port(inLog: { (try? String(contentsOfFile: relayLog, encoding: .utf8)) ?? "" }))
        let tier1Rsync = try RsyncDaemon(module: "master", path: tier1.root)
        let config1 = try origin.mirrorConfig(
            tier1, lists: origin.base, remote: origin.rsync.url, extra: "NOTIFYFILELISTD=\(relayRuntime.root)")
        let tier2 = try TemporaryTree("tier2")
        let config2 = try origin.mirrorConfig(
            tier2, lists: "http://127.0.0.1:\(relayPort)", remote: tier1Rsync.url)

        // An hour between polls: anything sooner came through the streams.
        let log1 = relayRuntime.path("follow1.log")
        let log2 = relayRuntime.path("follow2.log")
        let follow1 = try Command.start(
            "quick-mirror", ["follow", "-c", config1, "--interval", "3600", "-d", "2"], log: log1)
        defer { if follow1.isRunning { follow1.terminate() } }
        let follow2 = try Command.start(
            "quick-mirror", ["follow", "-c", config2, "--interval", "3600", "-d", "1"], log: log2)
        defer { if follow2.isRunning { follow2.terminate() } }
        let logs = {
            ["tier 1": log1, "tier 2": log2, "relay": relayLog].map { name, path in
                "--- \(name):\n" + ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "")
            }.joined(separator: "\n") + "\n--- origin:\n" + origin.filelistd.log
        }
        #expect(DaemonProcess.wait(timeout: .seconds(60)) { origin.identical(tier2) }, "first sync:\n\(logs())")

        sleepPastNextSecond()
        try origin.upstream.file("fedora/releases/42/Packages/z/z-1.rpm", "z")
        try origin.upstream.remove("alt/stage/readme")
        let changed = ContinuousClock.now
        #expect(DaemonProcess.wait(timeout: .seconds(60)) { origin.identical(tier2) }, "the change:\n\(logs())")
        print("origin change to tier 2 in sync: \(ContinuousClock.now - changed)")
        let tier2Log = (try? String(contentsOfFile: log2, encoding: .utf8)) ?? ""
        // The route of the last sync names the origin first, then tier 1.
        let route = tier2Log.split(separator: "\n").last { $0.contains("synced upstream generation") } ?? ""
        #expect(route.contains("route origin#") && route.contains(" > tier1#"), "\(logs())")
        // The relay did not compare fedora's versions for its delta: quick-mirror handed it
        // the list's digest, segments and delta (its records). (alt's list is so small that
        // the origin sends it whole; the relay compares that one.)
        let metrics = try await HTTPProbe.get("http://127.0.0.1:\(relayPort)/metrics").text
        let made = { (source: String) in
            metrics.split(separator: "\n").first { $0.hasPrefix("filelistd_deltas_made_total{source=\"\(source)\"}") }
                .flatMap { $0.split(separator: " ").last.flatMap { Double($0) } } ?? 0
        }
        #expect(made("index") >= 1, "\(metrics)\n\(logs())")
        kill(follow1.processIdentifier, SIGTERM)
        kill(follow2.processIdentifier, SIGTERM)
        #expect(DaemonProcess.wait(timeout: .seconds(10)) { !follow1.isRunning && !follow2.isRunning })
    }
}
