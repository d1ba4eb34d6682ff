import DaemonControl
import ListProtocol
import Foundation
import Testing
import TreeFixtures

/// `/metrics` and `/healthz` of a real filelistd --http and a real relay on 127.0.0.1,
/// read as Prometheus and a load balancer read them.
@Suite("filelistd shows its figures on /metrics and its health on /healthz", .ownThread)
struct MetricsEndpointTests {
    /// The value of one sample (`name` or `name{label="value"}`) in exposition text.
    static func sample(_ text: String, _ name: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.dropFirst(name.count + 1))
        }
        return nil
    }

    static func metrics(_ base: String) async throws -> String {
        let response = try await HTTPProbe.get("\(base)/metrics")
        #expect(response.status == 200)
        #expect(response.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
        return response.text
    }

    @Test("a published change moves the publish counter, the entries gauge and the histogram; 304s and deltas count")
    func publisherFigures() async throws {
        let served = try HTTPServerTests.Served()
        let health = try await HTTPProbe.get("\(served.base)/healthz")
        #expect(health.status == 200, "\(health.text)")
        #expect(health.text == "ok\n")

        let before = try await Self.metrics(served.base)
        let list = "filelistd_list_entries{list=\"fullfiletimelist\"}"
        let publishes = try #require(Self.sample(before, "filelistd_publishes_total"), "\(before)")
        let entries = try #require(Self.sample(before, list), "\(before)")
        // The tree's files, directories and the top directory: what the list holds.
        let listed = served.listBytes.split(separator: UInt8(ascii: "\n")).filter {
            $0.split(separator: UInt8(ascii: "\t"), omittingEmptySubsequences: false).count == 4
        }.count
        #expect(entries == Double(listed))
        #expect(Self.sample(before, "filelistd_generation") == 1)
        // Every attempt is timed, also one whose lists came out unchanged (not a new generation).
        let timed = try #require(Self.sample(before, "filelistd_publish_duration_seconds_count"))
        #expect(timed >= publishes)

        // A poll with the current ETag is answered on the event loop, outside the router.
        let whole = try await HTTPProbe.get("\(served.base)/fullfiletimelist")
        let etag = try #require(whole.headers["etag"])
        let notModified = Self.sample(before, "filelistd_http_requests_total{status=\"304\"}") ?? 0
        for _ in 0..<3 {
            let poll = try await HTTPProbe.get("\(served.base)/fullfiletimelist", headers: ["If-None-Match": etag])
            #expect(poll.status == 304)
        }
        let polled = try await Self.metrics(served.base)
        #expect(Self.sample(polled, "filelistd_http_requests_total{status=\"304\"}") == notModified + 3, "\(polled)")
        #expect((Self.sample(polled, "filelistd_list_transfers_total{kind=\"whole\"}") ?? 0) >= 1)
        let missing = try await HTTPProbe.get("\(served.base)/no-such-list")
        #expect(missing.status == 404)
        #expect(Self.sample(try await Self.metrics(served.base), "filelistd_http_requests_total{status=\"404\"}") == 1)

        // Renamed in whole: written in place, a loaded machine can stretch the write past
        // the settle time and publish twice (create, then content).
        let staged = served.tree.path("../new.rpm.staged")
        try Data("new".utf8).write(to: URL(fileURLWithPath: staged))
        try FileManager.default.moveItem(atPath: staged, toPath: served.tree.path("releases/40/new.rpm"))
        _ = try await served.waitForNewList(after: etag)
        let after = try await Self.metrics(served.base)
        #expect(Self.sample(after, "filelistd_publishes_total") == publishes + 1, "\(after)")
        #expect(Self.sample(after, list) == entries + 1)
        #expect(Self.sample(after, "filelistd_generation") == 2)
        #expect((Self.sample(after, "filelistd_publish_duration_seconds_count") ?? 0) >= timed + 1)
        #expect((Self.sample(after, "filelistd_events_total") ?? 0) >= 1)
        #expect(
            (Self.sample(after, "filelistd_last_publish_timestamp_seconds") ?? 0) > Date().timeIntervalSince1970 - 60)

        // The client that polled has the old version: it gets a delta, counted as one.
        let since = etag.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        let delta = try await HTTPProbe.get("\(served.base)/changes?list=fullfiletimelist&since=\(since)")
        #expect(delta.status == 200)
        let deltas = try await Self.metrics(served.base)
        #expect(Self.sample(deltas, "filelistd_list_transfers_total{kind=\"delta\"}") == 1, "\(deltas)")
        // The daemon's index said what changed: the delta was made without comparing lists.
        #expect((Self.sample(deltas, "filelistd_deltas_made_total{source=\"index\"}") ?? 0) >= 1, "\(deltas)")
        #expect(Self.sample(deltas, "filelistd_deltas_made_total{source=\"comparison\"}") == nil, "\(deltas)")

        let rescan = try served.daemon.control("rescan")
        #expect(rescan.contains("0 added"), "\(rescan)")
        let rescanned = try await Self.metrics(served.base)
        #expect(Self.sample(rescanned, "filelistd_rescans_total") == 1)
        #expect(Self.sample(rescanned, "filelistd_rescan_drift_entries_total") == 0)
    }

    @Test("an open /events stream counts as a subscriber while it is open")
    func subscribers() async throws {
        let served = try HTTPServerTests.Served()
        let base = served.base
        #expect(Self.sample(try await Self.metrics(base), "filelistd_sse_subscribers") == 0)
        // A client that goes away is counted until the server's next write to it fails (a
        // heartbeat or two, up to 30 s): not waited for here.
        let events = try await HTTPProbe.events("\(base)/events", count: 1) {
            let open = try await Self.metrics(base)
            #expect(Self.sample(open, "filelistd_sse_subscribers") == 1, "\(open)")
        }
        #expect(events.count == 1)
    }

    @Test("/healthz is 503 until the first list is published and while publishing keeps failing; failures count")
    func publisherHealth() async throws {
        // The list on a small file system of its own, filled up: its writes fail as on a
        // full disk, while the tree stays as it was.
        let tree = try TemporaryTree()
        for index in 0..<20 { try tree.file("releases/p-\(index).rpm", "\(index)") }
        let lists = try TemporaryTree("lists")
        try #require(Command.runShell("mount -t tmpfs -o size=64k tmpfs '\(lists.root)'") == 0, "mount needs root")
        defer { _ = Command.runShell("umount -l '\(lists.root)'") }
        let fill = "dd if=/dev/zero of='\(lists.path("fill"))' bs=4k 2>/dev/null"
        _ = Command.runShell(fill)
        let daemon = try DaemonProcess(
            root: tree.root,
            arguments: ["--settle", "0.1", "-t", lists.path("fullfiletimelist"), "--http", "127.0.0.1:0"])
        defer { daemon.stop() }
        let port = try #require(HTTPProbe.port(inLog: { daemon.log }), "\(daemon.log)")
        let base = "http://127.0.0.1:\(port)"
        #expect(DaemonProcess.wait { daemon.log.contains("cannot publish the list") }, "\(daemon.log)")

        let before = try await HTTPProbe.get("\(base)/healthz")
        #expect(before.status == 503)
        #expect(before.text == "no list published yet\n")
        let failing = try await Self.metrics(base)
        #expect((Self.sample(failing, "filelistd_publish_failures_total") ?? 0) >= 1, "\(failing)")
        #expect(Self.sample(failing, "filelistd_publishes_total") == 0)

        // Space again: the retry 5 s later publishes.
        try FileManager.default.removeItem(atPath: lists.path("fill"))
        #expect(try await Self.waitForHealth(base, status: 200))

        // Full again, and a change to publish: one failure is retried; three in a row are a problem.
        _ = Command.runShell(fill)
        try tree.file("releases/new.rpm", "new")
        #expect(try await Self.waitForHealth(base, status: 503, timeout: .seconds(40)), "\(daemon.log)")
        let stuck = try await HTTPProbe.get("\(base)/healthz")
        #expect(stuck.text.hasPrefix("the last 3 attempts to publish failed"), "\(stuck.text)")
        #expect((Self.sample(try await Self.metrics(base), "filelistd_publish_failures_total") ?? 0) >= 4)
    }

    static func waitForHealth(_ base: String, status: Int, timeout: Duration = .seconds(20)) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await HTTPProbe.get("\(base)/healthz").status == status { return true }
            try await Task.sleep(for: .milliseconds(200))
        }
        return false
    }

    @Test("a relay's /healthz is 503 while its lists are not readable, 200 once they are")
    func relayHealth() async throws {
        let mirror = try TemporaryTree("mirror")
        let runtime = try TemporaryTree("run")
        let log = runtime.path("relay.log")
        let relay = try Command.start(
            "filelistd",
            [
                "relay", "--dir", mirror.root, "--list", "fedora/fullfiletimelist-fedora", "--http", "127.0.0.1:0",
                "--runtime-directory", runtime.root,
            ], log: log)
        defer { if relay.isRunning { relay.terminate() } }
        let relayLog = { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        let port = try #require(HTTPProbe.port(inLog: relayLog), "\(relayLog())")
        let base = "http://127.0.0.1:\(port)"

        let before = try await HTTPProbe.get("\(base)/healthz")
        #expect(before.status == 503)
        #expect(before.text.contains("fedora/fullfiletimelist-fedora"), "\(before.text)")

        try mirror.file(
            "fedora/fullfiletimelist-fedora", "[Version]\n2\n\n[Files]\n1\td\t0\tx\n\n[Checksums SHA1]\n\n[End]\n")
        let socket = LocalControl.socketPath(root: mirror.root, runtimeDirectory: runtime.root)
        _ = try LocalControl.send(.announce(hops: []), to: socket)
        let after = try await HTTPProbe.get("\(base)/healthz")
        #expect(after.status == 200, "\(after.text)")
        let figures = try await Self.metrics(base)
        #expect(Self.sample(figures, "filelistd_http_requests_total{status=\"503\"}") == 1, "\(figures)")
    }
}
