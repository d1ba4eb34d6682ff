import FileList
import Foundation
import Testing
import TreeFixtures

@Suite("quick-mirror refuses a bad list before it changes anything")
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
        let result = try fixture.sync()
        #expect(result.status != 0)
        #expect(result.stderr.contains("another quick-mirror run"))
    }
}

#if canImport(Glibc)
    import Glibc
#endif
