import FileList
import Foundation
import Testing
import TreeFixtures

@Suite("quick-mirror refuses a bad list before it changes anything", .ownThread)
struct SafetyTests {
    struct BadList: Sendable, CustomTestStringConvertible {
        var name: String
        var text: String
        var mentions: String
        var testDescription: String { name }
    }

    static let badLists: [BadList] = [
        BadList(
            name: "a path climbing out with ../",
            text: "[Version]\n2\n\n[Files]\n1\tf\t1\t../../../escaped\n\n[Checksums SHA1]\n\n[End]\n",
            mentions: "climbs out"),
        BadList(
            name: "an absolute path",
            text: "[Version]\n2\n\n[Files]\n1\tf\t1\t/etc/passwd\n\n[Checksums SHA1]\n\n[End]\n",
            mentions: "absolute path"),
        BadList(
            name: "a truncated list (no [End])", text: "[Version]\n2\n\n[Files]\n1\td\t4096\treleases\n",
            mentions: "truncated"),
        BadList(
            name: "garbage lines", text: "[Version]\n2\n\n[Files]\n<html>not a list</html>\n\n[End]\n",
            mentions: "expected 4 TAB-separated fields"),
        BadList(
            name: "an empty [Files] section", text: "[Version]\n2\n\n[Files]\n\n[Checksums SHA1]\n\n[End]\n",
            mentions: "empty"),
        BadList(
            name: "a version above 3", text: "[Version]\n4\n\n[Files]\n1\tf\t1\ta\n\n[End]\n", mentions: "version 4"),
    ]

    /// Every path and its bytes below a directory.
    static func snapshot(_ root: String) -> [String: Data] {
        var result: [String: Data] = [:]
        let enumerator = FileManager.default.enumerator(atPath: root)
        while let path = enumerator?.nextObject() as? String {
            result[path] = (try? Data(contentsOf: URL(fileURLWithPath: "\(root)/\(path)"))) ?? Data()
        }
        return result
    }

    @Test("the run stops with an error naming the problem; nothing is deleted or written", arguments: badLists)
    func refuses(_ bad: BadList) throws {
        let fixture = try MirrorFixture()
        #expect(try fixture.sync().status == 0)
        let before = Self.snapshot(fixture.mirror.root)
        let parentBefore = try FileManager.default.contentsOfDirectory(atPath: "/tmp").filter {
            $0.hasPrefix("escaped")
        }

        try bad.text.write(
            toFile: fixture.upstream.path("fedora/fullfiletimelist-fedora"), atomically: true, encoding: .utf8)
        let result = try fixture.sync()
        #expect(result.status != 0)
        #expect(result.stderr.contains(bad.mentions), "\(result.stderr)")
        #expect(result.stderr.contains("fullfiletimelist-fedora"), "the error names the list")
        #expect(result.stderrLines.count == 1, "\(result.stderr)")
        let after = Self.snapshot(fixture.mirror.root).filter { !$0.key.hasPrefix(".quick-mirror") }
        #expect(after == before.filter { !$0.key.hasPrefix(".quick-mirror") }, "the mirror is untouched")
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: "/tmp").filter { $0.hasPrefix("escaped") }
                == parentBefore)
    }

    /// The modification time of the mirror's top directory and of every entry below it,
    /// to the nanosecond, symbolic links not followed: what `find -printf '%T@'` or a
    /// tier below with `rsync -a` would see.
    static func times(_ root: String) -> [String: String] {
        var result: [String: String] = [:]
        func record(_ path: String) {
            var info = stat()
            guard lstat(path, &info) == 0 else { return }
            result[path] = "\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
        }
        record(root)
        let enumerator = FileManager.default.enumerator(atPath: root)
        while let path = enumerator?.nextObject() as? String { record("\(root)/\(path)") }
        return result
    }

    /// Ways a run refuses to go on once it has read the lists: each must leave the mirror
    /// exactly as it was, bytes and times, its top directory's included.
    enum Refusal: String, CaseIterable, CustomTestStringConvertible {
        case malformedListOverRsync, malformedListOverHTTP, deletionGuard
        var testDescription: String {
            switch self {
            case .malformedListOverRsync: "a malformed list fetched with rsync"
            case .malformedListOverHTTP: "a malformed list fetched over HTTP"
            case .deletionGuard: "the deletion guard"
            }
        }
    }

    @Test("a refused run leaves the mirror byte- and time-identical, its top directory included", arguments: Refusal.allCases)
    func refusedRunLeavesNoTrace(_ refusal: Refusal) throws {
        let fixture = try MirrorFixture()
        var arguments: [String] = []
        let server = refusal == .malformedListOverHTTP ? try ThrottledFileServer(root: fixture.upstream.root) : nil
        defer { server?.stop() }
        if let server { arguments = ["--set", "LISTSOURCE=\(server.url)"] }
        func sync() throws -> Command.Result { try Command.run("quick-mirror", ["-c", fixture.config] + arguments) }
        // The mirror as a first run leaves it, then as a second, idle one does.
        #expect(try sync().status == 0)
        #expect(try sync().status == 0)
        // Time enough for a change of any time to show, at any file system's resolution.
        sleepPastNextSecond()
        let bytes = Self.snapshot(fixture.mirror.root)
        let times = Self.times(fixture.mirror.root)

        switch refusal {
        case .malformedListOverRsync, .malformedListOverHTTP:
            try "[Version]\n2\n\n[Files]\n<html>not a list</html>\n\n[End]\n".write(
                toFile: fixture.upstream.path("fedora/fullfiletimelist-fedora"), atomically: true, encoding: .utf8)
        case .deletionGuard:
            // More than 10% of the mirror, and more than the guard's minimum count.
            for index in 0..<1200 { try fixture.upstream.file("fedora/bulk/\(index / 100)/file-\(index)", "x") }
            try fixture.publish()
            #expect(try sync().status == 0)
            sleepPastNextSecond()
            try fixture.upstream.remove("fedora/bulk")
            try fixture.publish()
        }
        let before = refusal == .deletionGuard ? Self.snapshot(fixture.mirror.root) : bytes
        let timesBefore = refusal == .deletionGuard ? Self.times(fixture.mirror.root) : times
        let result = try sync()
        #expect(result.status != 0)
        #expect(
            result.stderr.contains(refusal == .deletionGuard ? "refusing to delete" : "fullfiletimelist-fedora"),
            "\(result.stderr)")
        #expect(Self.snapshot(fixture.mirror.root) == before, "the mirror's bytes are as they were")
        let timesAfter = Self.times(fixture.mirror.root)
        let changed = timesBefore.filter { timesAfter[$0.key] != $0.value }.keys.sorted()
        #expect(changed.isEmpty, "times changed: \(changed)")
        #expect(timesAfter.count == timesBefore.count, "no entry appeared or went")
    }

    @Test("a list whose bytes do not have the digest its ETag names is refused, naming the URL; the mirror is untouched")
    func listNotMatchingItsETag() throws {
        let fixture = try MirrorFixture()
        #expect(try fixture.sync().status == 0)
        // A web server that names a list digest in its ETag, and not the one of the bytes
        // it sends: a list damaged on the way, or a server lying about what it serves.
        let runtime = try TemporaryTree("wrong-etag")
        try """
            import functools, http.server, sys
            class Handler(http.server.SimpleHTTPRequestHandler):
                def end_headers(self):
                    if self.path.endswith("fullfiletimelist-fedora"):
                        self.send_header("ETag", '"' + "ab" * 32 + '"')
                    super().end_headers()
            server = http.server.ThreadingHTTPServer(
                ("127.0.0.1", 0), functools.partial(Handler, directory=sys.argv[1]))
            print("port", server.server_address[1], flush=True)
            server.serve_forever()
            """.write(toFile: runtime.path("wrong-etag.py"), atomically: true, encoding: .utf8)
        let (server, base) = try TierTests.webServer(
            [runtime.path("wrong-etag.py"), fixture.upstream.root], log: runtime.path("http.log"))
        defer { TierTests.stop(server) }
        sleepPastNextSecond()
        try fixture.upstream.file("fedora/releases/40/Packages/n/new-1.rpm", "new")
        try fixture.publish()
        let bytes = Self.snapshot(fixture.mirror.root)
        let times = Self.times(fixture.mirror.root)
        let result = try Command.run("quick-mirror", ["-c", fixture.config, "--set", "LISTSOURCE=\(base)"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("digest is not the one its ETag names"), "\(result.stderr)")
        #expect(result.stderr.contains("\(base)/fedora/fullfiletimelist-fedora"), "\(result.stderr)")
        #expect(Self.snapshot(fixture.mirror.root) == bytes)
        #expect(Self.times(fixture.mirror.root) == times)
    }

    @Test("a second run on the same destination is refused while one holds the lock")
    func lock() throws {
        let fixture = try MirrorFixture()
        let lockPath = fixture.mirror.path(".quick-mirror-last-run.lock")
        _ = FileManager.default.createFile(atPath: lockPath, contents: nil)
        let fd = open(lockPath, O_RDWR)
        defer { close(fd) }
        #expect(flock(fd, LOCK_EX | LOCK_NB) == 0)
        let result = try fixture.sync("-d", "1")
        #expect(result.status != 0)
        #expect(result.stderr.contains("another quick-mirror run"))
        #expect(result.stderr.contains("pid \(getpid())"), "the holder is named: \(result.stderr)")
        // Under cron (-d 0) an overlapping run is no news, as in the reference...
        let quiet = try fixture.sync()
        #expect(quiet.status == 1)
        #expect(quiet.stderr.isEmpty, "\(quiet.stderr)")
        // ...unless no run has completed for longer than WARNDELAY.
        try "LASTTIME=1000\n".write(
            toFile: fixture.mirror.path(".quick-mirror-last-run"), atomically: true, encoding: .utf8)
        let stale = try fixture.sync()
        #expect(stale.status != 0)
        #expect(stale.stderr.contains("no completed run since"), "\(stale.stderr)")
    }
}

#if canImport(Glibc)
    import Glibc
#endif
