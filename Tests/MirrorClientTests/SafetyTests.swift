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
