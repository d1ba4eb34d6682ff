import DaemonControl
import ListProtocol
import FileList
import Foundation
import Testing
import TreeFixtures

/// filelistd --http on 127.0.0.1, asked the way a downstream mirror asks.
@Suite("filelistd serves its lists over HTTP", .ownThread)
struct HTTPServerTests {
    /// The list digest, as `Scripts/list-digest.py` computes it from the bytes alone.
    static func digest(_ bytes: [UInt8]) throws -> String { try ReferenceDigest.digest(of: bytes) }

    /// A tree with a daemon serving it on an ephemeral port.
    final class Served: @unchecked Sendable {
        let tree: TemporaryTree
        let daemon: DaemonProcess
        let base: String

        init(_ arguments: [String] = [], packages: Int = 100) throws {
            tree = try TemporaryTree()
            try tree.file("releases/40/a.rpm", "a")
            try tree.file("releases/40/repodata/repomd.xml", "<repomd/>")
            // Enough lines that a delta of two edits is much smaller than the list.
            for index in 0..<packages { try tree.file("releases/40/Packages/p-\(index).rpm", "\(index)") }
            daemon = try DaemonProcess(
                root: tree.root,
                arguments: ["--settle", "0.1", "--http", "127.0.0.1:0", "--name", "origin", "-c"]
                    + arguments)
            let daemon = self.daemon
            // The catalog is filled after the first publish, apart from the server start.
            guard let port = HTTPProbe.port(inLog: { daemon.log }),
                DaemonProcess.wait(until: { daemon.log.contains("lists announced") })
            else {
                throw TestFailure("filelistd did not serve its list over HTTP:\n\(daemon.log)")
            }
            base = "http://127.0.0.1:\(port)"
        }

        var listBytes: [UInt8] {
            (try? Array(Data(contentsOf: URL(fileURLWithPath: tree.path("fullfiletimelist"))))) ?? []
        }

        /// Waits until the served list is the one on disk and differs from `old`.
        func waitForNewList(after old: String) async throws -> HTTPProbe.Response {
            let deadline = ContinuousClock.now + .seconds(20)
            while ContinuousClock.now < deadline {
                let response = try await HTTPProbe.get("\(base)/fullfiletimelist")
                if response.headers["etag"] != old && response.body == listBytes { return response }
                try await Task.sleep(for: .milliseconds(50))
            }
            throw TestFailure("the served list did not change from \(old):\n\(daemon.log)")
        }
    }

    struct TestFailure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    @Test("the list comes with its SHA-256 as a strong ETag; If-None-Match gets 304; nothing else is served")
    func conditionalGet() async throws {
        let served = try Served()
        let response = try await HTTPProbe.get("\(served.base)/fullfiletimelist")
        #expect(response.status == 200)
        #expect(response.body == served.listBytes)
        let expectedETag = "\"\(try Self.digest(response.body))\""
        #expect(response.headers["etag"] == expectedETag)
        let again = try await HTTPProbe.get(
            "\(served.base)/fullfiletimelist", headers: ["If-None-Match": response.headers["etag"] ?? ""])
        #expect(again.status == 304)
        #expect(again.body.isEmpty)
        for header in ["W/\(response.headers["etag"] ?? "")", "\"other\", \(response.headers["etag"] ?? "")", "*"] {
            let weak = try await HTTPProbe.get("\(served.base)/fullfiletimelist", headers: ["If-None-Match": header])
            #expect(weak.status == 304, "If-None-Match: \(header)")
        }
        let other = try await HTTPProbe.get("\(served.base)/fullfiletimelist", headers: ["If-None-Match": "\"other\""])
        #expect(other.status == 200)
        // Files of the tree, the runtime directory and escapes are not the server's to give.
        for path in ["releases/40/a.rpm", "releases", "../etc/passwd", "%2e%2e/etc/passwd", ""] {
            #expect(try await HTTPProbe.get("\(served.base)/\(path)").status == 404, "\(path)")
        }
    }

    @Test("a whole list comes plain, or gzip-compressed when asked, each with its own ETag; either ETag is current")
    func compressedList() async throws {
        // A list of some megabytes: the kernel sends it in many pieces.
        let served = try Served(packages: 20_000)
        do {
            try await compressedList(served)
        } catch {
            // What the sockets hold says which side stopped (diagnosing a rare stall).
            let port = served.base.split(separator: ":").last ?? ""
            let sockets = try? Command.run("/usr/bin/ss", ["-tnpi", "( sport = :\(port) or dport = :\(port) )"])
            Issue.record(
                "\(error)\nsockets:\n\(sockets.map { String(decoding: $0.stdout, as: UTF8.self) } ?? "")\n\(served.daemon.log.suffix(3000))")
        }
    }

    func compressedList(_ served: Served) async throws {
        let list = served.listBytes
        let digest = try Self.digest(list)
        let plain = try await HTTPProbe.get("\(served.base)/fullfiletimelist")
        #expect(plain.status == 200 && plain.headers["content-encoding"] == nil)
        #expect(plain.body == list && plain.headers["etag"] == "\"\(digest)\"")
        #expect(plain.headers["vary"] == "Accept-Encoding")

        // The gzip form is made after the generation is announced: until then, plain.
        let gzip = ["Accept-Encoding": "deflate, gzip"]
        var compressed = try await HTTPProbe.get("\(served.base)/fullfiletimelist", headers: gzip)
        let deadline = ContinuousClock.now + .seconds(20)
        while compressed.headers["content-encoding"] == nil && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            compressed = try await HTTPProbe.get("\(served.base)/fullfiletimelist", headers: gzip)
        }
        try #require(compressed.headers["content-encoding"] == "gzip", "\(served.daemon.log)")
        #expect(compressed.headers["etag"] == "\"\(digest)-gzip\"")
        #expect(compressed.headers["content-length"] == String(compressed.body.count))
        #expect(compressed.body.count * 5 < list.count, "gzip: \(compressed.body.count) of \(list.count) bytes")
        // Decompressed by another program than ours.
        let file = served.tree.path("../list.gz")
        try Data(compressed.body).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let unzipped = try Command.run("/bin/gzip", ["-dc", file])
        #expect(unzipped.status == 0 && unzipped.stdout == list, "\(unzipped.stderr)")

        // Either ETag says the client has this content; a 304 describes no body.
        for (etag, accept) in [(plain.headers["etag"], gzip), (compressed.headers["etag"], gzip), (compressed.headers["etag"], [:])] {
            let again = try await HTTPProbe.get(
                "\(served.base)/fullfiletimelist", headers: accept.merging(["If-None-Match": etag ?? ""]) { $1 })
            #expect(again.status == 304, "\(etag ?? "") \(accept)")
            #expect(again.body.isEmpty && again.headers["content-encoding"] == nil)
        }
        let refused = try await HTTPProbe.get("\(served.base)/fullfiletimelist", headers: ["Accept-Encoding": "gzip;q=0"])
        #expect(refused.headers["content-encoding"] == nil && refused.body == list)
        // One connection, many whole lists in turn: each complete.
        for index in 0..<10 {
            let next = try await HTTPProbe.get("\(served.base)/fullfiletimelist", headers: index % 2 == 0 ? gzip : [:])
            #expect(next.body == (index % 2 == 0 ? compressed.body : list), "request \(index)")
        }
    }

    @Test("a change is announced on /events with the new ETag and the origin's hop; /changes gives the delta")
    func eventsAndDeltas() async throws {
        let served = try Served()
        let first = try await HTTPProbe.get("\(served.base)/fullfiletimelist")
        let firstETag = try #require(first.headers["etag"])
        let tree = served.tree
        let events = try await HTTPProbe.events("\(served.base)/events", count: 2) {
            try tree.file("releases/41/b.rpm", "b")
            try tree.remove("releases/40/a.rpm")
        }
        try #require(events.count == 2, "events: \(events)\n\(served.daemon.log)")
        let announcements = try events.map { event in
            let data = try #require(event.split(separator: "\n").first { $0.hasPrefix("data: ") })
            return try Announcement(json: data.dropFirst("data: ".count))
        }
        #expect(announcements[0].lists["fullfiletimelist"] == firstETag)
        #expect(announcements[1].generation > announcements[0].generation)
        #expect(announcements[1].hops.map(\.host) == ["origin"])
        #expect(announcements[1].lists["fullfiletimelist"] != firstETag)
        // The two changes may have been published as one generation or as two: compare
        // with the list once the daemon is quiet, and the announcement that names it.
        var second = try await served.waitForNewList(after: firstETag)
        for _ in 0..<20 {
            try await Task.sleep(for: .milliseconds(100))
            second = try await served.waitForNewList(after: firstETag)
        }
        let latest = try Announcement(json: try await HTTPProbe.get("\(served.base)/announcement").text)
        #expect(latest.lists["fullfiletimelist"] == second.headers["etag"])

        // The delta from the first version rebuilds the second byte for byte.
        let digest = firstETag.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        let changes = try await HTTPProbe.get("\(served.base)/changes?list=fullfiletimelist&since=\(digest)")
        #expect(changes.status == 200)
        let delta = try FileListDelta(decoding: changes.body, source: "changes")
        #expect(try delta.applied(to: first.body) == second.body)
        let expectedResult = try Self.digest(second.body)
        #expect(delta.result == expectedResult)
        #expect(
            changes.body.count * 4 < second.body.count, "delta \(changes.body.count) B, list \(second.body.count) B")

        let current = (second.headers["etag"] ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        #expect(
            try await HTTPProbe.get("\(served.base)/changes?list=fullfiletimelist&since=\(current)").status == 304)
        #expect(
            try await HTTPProbe.get(
                "\(served.base)/changes?list=fullfiletimelist&since=\(String(repeating: "0", count: 64))"
            )
            .status == 410)
        #expect(try await HTTPProbe.get("\(served.base)/changes?list=nothing&since=\(current)").status == 404)
    }

    @Test("a list written outside the tree is served by its file name")
    func listOutsideTheTree() async throws {
        let tree = try TemporaryTree()
        try tree.file("a.rpm", "a")
        let outside = try TemporaryTree("lists")
        let daemon = try DaemonProcess(
            root: tree.root,
            arguments: ["--http", "127.0.0.1:0", "-t", outside.path("fullfiletimelist-pub"), "--settle", "0.1"])
        let port = try #require(HTTPProbe.port(inLog: { daemon.log }), "\(daemon.log)")
        #expect(DaemonProcess.wait { daemon.log.contains("lists announced") }, "\(daemon.log)")
        let response = try await HTTPProbe.get("http://127.0.0.1:\(port)/fullfiletimelist-pub")
        #expect(response.status == 200)
        #expect(
            response.body == Array(try Data(contentsOf: URL(fileURLWithPath: outside.path("fullfiletimelist-pub")))))
    }

    @Test("a relay serves the lists it is given and announces with the upstream's hops plus its own")
    func relay() async throws {
        let mirror = try TemporaryTree("mirror")
        try mirror.file(
            "fedora/fullfiletimelist-fedora", "[Version]\n2\n\n[Files]\n1\td\t0\tx\n\n[Checksums SHA1]\n\n[End]\n")
        let runtime = try TemporaryTree("run")
        let log = runtime.path("relay.log")
        let relay = try Command.start(
            "filelistd",
            [
                "relay", "--dir", mirror.root, "--list", "fedora/fullfiletimelist-fedora", "--http", "127.0.0.1:0",
                "--name", "tier1", "--runtime-directory", runtime.root,
            ], log: log)
        defer { if relay.isRunning { relay.terminate() } }
        let relayLog = { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        let port = try #require(HTTPProbe.port(inLog: relayLog), "\(relayLog())")
        let base = "http://127.0.0.1:\(port)"
        let first = try await HTTPProbe.get("\(base)/fedora/fullfiletimelist-fedora")
        #expect(first.status == 200)

        try mirror.file(
            "fedora/fullfiletimelist-fedora", "[Version]\n2\n\n[Files]\n2\td\t0\tx\n\n[Checksums SHA1]\n\n[End]\n")
        let upstream = [Hop(host: "origin", generation: 41)]
        let socket = LocalControl.socketPath(root: mirror.root, runtimeDirectory: runtime.root)
        let reply = try LocalControl.send(.announce(hops: upstream), to: socket)
        let announcement = try Announcement(json: reply)
        #expect(announcement.hops.map(\.host) == ["origin", "tier1"])
        #expect(announcement.hops.first?.generation == 41)
        let second = try await HTTPProbe.get("\(base)/fedora/fullfiletimelist-fedora")
        #expect(second.headers["etag"] == announcement.lists["fedora/fullfiletimelist-fedora"])
        #expect(second.headers["etag"] != first.headers["etag"])
        #expect(try LocalControl.send(line: "announce not-json", to: socket).hasPrefix("error: "))
        #expect(try LocalControl.send(.announce(hops: []), to: socket) == "unchanged\n")
        // rescan re-reads the lists as SIGHUP does: a list replaced without a word is
        // announced with the relay as the only hop.
        #expect(try LocalControl.send(.rescan, to: socket) == "unchanged\n")
        try mirror.file(
            "fedora/fullfiletimelist-fedora", "[Version]\n2\n\n[Files]\n3\td\t0\tx\n\n[Checksums SHA1]\n\n[End]\n")
        let rescanned = try Announcement(json: try LocalControl.send(.rescan, to: socket))
        #expect(rescanned.hops.map(\.host) == ["tier1"])
        #expect(rescanned.generation == announcement.generation + 1)
    }
}
