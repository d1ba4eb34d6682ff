import ListProtocol
import Foundation
import Testing
import TreeFixtures

#if canImport(Glibc)
    import Glibc
#endif

/// The change stream across a dropped connection, and the HTTP server's start and stop,
/// against a real filelistd on 127.0.0.1.
@Suite("filelistd's change stream resumes, and its server starts and stops cleanly", .ownThread)
struct HTTPLifecycleTests {
    typealias Served = HTTPServerTests.Served

    /// One event as the client parsed it: `id`, `event` and the announcement.
    struct Event {
        var id: String
        var name: String
        var announcement: Announcement

        init(_ text: String) throws {
            var fields: [Substring: Substring] = [:]
            for line in text.split(separator: "\n") {
                guard let colon = line.firstIndex(of: ":") else { continue }
                fields[line[..<colon]] = line[line.index(after: colon)...].drop(while: { $0 == " " })
            }
            id = String(fields["id"] ?? "")
            name = String(fields["event"] ?? "")
            announcement = try Announcement(json: fields["data"] ?? "")
        }
    }

    func currentGeneration(_ served: Served) async throws -> Announcement {
        try Announcement(json: try await HTTPProbe.get("\(served.base)/announcement").text)
    }

    /// Makes a change and waits until a generation after `after` is announced.
    func change(_ served: Served, _ name: String, after: Int) async throws -> Announcement {
        try served.tree.file("releases/41/\(name)", name)
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            let latest = try await currentGeneration(served)
            if latest.generation > after && latest.lists["fullfiletimelist"] != nil {
                // Quiet: the change may have been published in more than one generation.
                try await Task.sleep(for: .milliseconds(500))
                return try await currentGeneration(served)
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw HTTPServerTests.TestFailure("no generation after \(after) was announced:\n\(served.daemon.log)")
    }

    @Test("a client that reconnects with Last-Event-ID gets exactly the generations it missed, in order")
    func resumeAfterDroppedConnection() async throws {
        let served = try Served()
        let url = "\(served.base)/events"
        let first = try Event(try #require(try await HTTPProbe.events(url, count: 1).first))
        #expect(first.name == ServerSentEvents.eventName)

        // Disconnected: two changes, two (or more) generations.
        let middle = try await change(served, "b.rpm", after: first.announcement.generation)
        let latest = try await change(served, "c.rpm", after: middle.generation)
        let missedCount = latest.generation - first.announcement.generation
        #expect(missedCount >= 2)

        let missed = try await HTTPProbe.events(url, count: missedCount, headers: ["Last-Event-ID": first.id])
            .map(Event.init)
        #expect(missed.map(\.announcement.generation) == Array((first.announcement.generation + 1)...latest.generation))
        #expect(missed.allSatisfy { $0.name == ServerSentEvents.eventName })
        #expect(missed.contains { $0.announcement == middle })
        #expect(missed.last?.announcement == latest)
        let list = try await HTTPProbe.get("\(served.base)/fullfiletimelist")
        #expect(missed.last?.announcement.lists["fullfiletimelist"] == list.headers["etag"])

        // Up to date: nothing to replay (the stream stays open, quiet).
        let none = try await HTTPProbe.events(
            url, count: 1, timeout: .seconds(2), headers: ["Last-Event-ID": try #require(missed.last?.id)])
        #expect(none.isEmpty, "\(none)")

        // An id this server cannot place (from before a restart, or garbage): one reset
        // event carrying the current announcement, so the client fetches the lists again.
        for unknown in ["0123abc-\(latest.generation)", "\(latest.generation)", "nonsense"] {
            let reset = try await HTTPProbe.events(url, count: 1, headers: ["Last-Event-ID": unknown]).map(Event.init)
            #expect(reset.map(\.name) == [ServerSentEvents.resetEventName], "Last-Event-ID: \(unknown)")
            #expect(reset.first?.announcement == latest)
        }
    }

    @Test("SIGTERM ends an open /events stream cleanly, leaves a complete list and exits 0")
    func sigtermEndsStreams() async throws {
        let served = try Served()
        let pid = served.daemon.process.processIdentifier
        // A stream that broke off instead of ending throws here; one left open times out empty.
        let events = try await HTTPProbe.events("\(served.base)/events", count: 100, timeout: .seconds(30)) {
            kill(pid, SIGTERM)
        }
        #expect(events.count == 1, "\(events)\n\(served.daemon.log)")
        served.daemon.process.terminate(within: .seconds(20))
        #expect(served.daemon.process.terminationReason == .exit)
        #expect(served.daemon.process.terminationStatus == 0, "\(served.daemon.log)")
        let list = String(decoding: served.listBytes, as: UTF8.self)
        #expect(list.hasPrefix("[Version]\n") && list.hasSuffix("[End]\n"))
    }

    @Test("an HTTP port already in use is one clear line and a prompt exit, before any scan")
    func portInUse() throws {
        let occupied = try LoopbackSocket(listening: true)
        let port = occupied.port

        let tree = try TemporaryTree()
        try tree.file("a.rpm", "a")
        let daemon = try DaemonProcess(root: tree.root, arguments: ["--http", "127.0.0.1:\(port)"])
        // The port stays taken until the daemon has given up on it.
        withExtendedLifetime(occupied) {
            #expect(DaemonProcess.wait(timeout: .seconds(20)) { !daemon.process.isRunning }, "\(daemon.log)")
            daemon.process.waitUntilExit()
        }
        #expect(daemon.process.terminationStatus == 1)
        #expect(
            daemon.log.split(separator: "\n") == [
                "filelistd: error: cannot listen on 127.0.0.1:\(port): address already in use (another filelistd or web server?)"
            ])
        #expect(!FileManager.default.fileExists(atPath: tree.path("fullfiletimelist")), "no scan, no list")
    }
}
