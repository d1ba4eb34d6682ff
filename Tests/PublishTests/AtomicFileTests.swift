import Foundation
import LinuxCalls
import Publish
import ListProtocol
import Testing
import TreeFixtures

@Suite("Atomic publishing", .ownThread)
struct AtomicFileTests {
    @Test("the target gets exactly the bytes, mode 0644, and nothing is left beside it")
    func writesAndRenames() throws {
        let tree = try TemporaryTree("publish")
        let file = try AtomicFile(target: tree.path("list"))
        try file.write(Array("hello ".utf8))
        try file.write(Array("world\n".utf8))
        #expect(try tree.names() == [], "nothing is visible before the commit")
        #expect(try file.commit() == .replaced)
        #expect(try tree.read("list") == Array("hello world\n".utf8))
        let attributes = try FileManager.default.attributesOfItem(atPath: tree.path("list"))
        #expect((attributes[.posixPermissions] as? Int) == 0o644)
        #expect(try tree.names() == ["list"])
    }

    /// Lists past 16 MB are made durable in steps while they are written (`fdatasync`
    /// on a thread of their own); the steps must not change a byte, nor outlive the file.
    @Test("a list larger than the durable steps is renamed whole, with the digest of its bytes")
    func largeListInSteps() throws {
        let tree = try TemporaryTree("publish-large")
        try tree.file("list", "old\n")
        let file = try AtomicFile(target: tree.path("list"), hashing: true)
        // 40 chunks of 1 MiB, each stamped with its number: a chunk lost, doubled or out
        // of order shows.
        let base = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
        var expected: [UInt8] = []
        for number in 0..<40 {
            var chunk = base
            withUnsafeBytes(of: UInt64(number)) { chunk.replaceSubrange(0..<8, with: $0) }
            expected += chunk
            try file.write(chunk)
        }
        #expect(try file.commit() == .replaced)
        let written = try tree.read("list")
        #expect(written.count == expected.count)
        #expect(written == expected)
        #expect(file.digest == ListDigest.hex(of: expected), "hashed as written, over the same bytes")
        #expect(try tree.names() == ["list"])

        // Dropped midway, after some steps were asked for: nothing stays, the old list is kept.
        let dropped = try AtomicFile(target: tree.path("list"), hashing: true)
        for _ in 0..<40 { try dropped.write(Array(expected[0..<(1 << 20)])) }
        dropped.discard()
        #expect(try tree.read("list") == expected)
        #expect(try tree.names() == ["list"])
    }

    @Test("a write that finds the file system full fails the commit, naming the path; the old list stays")
    func fullFileSystem() throws {
        let small = try TemporaryTree("tmpfs")
        let mounted = Command.runShell("mount -t tmpfs -o size=256k quickmirror-test \(small.root)")
        try #require(mounted == 0, "mounting a small tmpfs needs CAP_SYS_ADMIN")
        defer { _ = Command.runShell("umount \(small.root)") }
        try small.file("list", "old\n")
        let file = try AtomicFile(target: small.path("list"), hashing: true)
        // Writes happen on a thread of their own: the failure may show at a later write
        // or only at the commit, but it must show, and nothing may be renamed.
        var failure: SystemCallError?
        do {
            for _ in 0..<64 { try file.write([UInt8](repeating: 0x41, count: 16 << 10)) }
            try file.commit()
        } catch {
            failure = error
        }
        #expect(failure?.errno == .noSpace, "\(String(describing: failure))")
        #expect(failure.map { "\($0)".contains(small.path("list")) } == true)
        #expect(try small.read("list") == Array("old\n".utf8))
        file.discard()
        #expect(try small.names() == ["list"])
    }

    @Test("with ifChanged, identical bytes leave the old file as it was: same inode, same mtime")
    func unchangedKeepsInode() throws {
        let tree = try TemporaryTree("unchanged")
        try tree.file("list", "same\n")
        var times = [timespec(tv_sec: 1_000_000_000, tv_nsec: 0), timespec(tv_sec: 1_000_000_000, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, tree.path("list"), &times, 0) == 0)
        let inode = try tree.inode("list")

        let file = try AtomicFile(target: tree.path("list"))
        try file.write(Array("same\n".utf8))
        #expect(try file.commit(ifChanged: true) == .unchanged)
        #expect(try tree.inode("list") == inode)
        let modified = try FileManager.default.attributesOfItem(atPath: tree.path("list"))[.modificationDate] as? Date
        #expect(modified == Date(timeIntervalSince1970: 1_000_000_000))
        #expect(try tree.names() == ["list"])
    }

    @Test("with ifChanged, different bytes (even of the same length) replace the file")
    func changedReplaces() throws {
        let tree = try TemporaryTree("changed")
        try tree.file("list", "old!\n")
        let inode = try tree.inode("list")
        let file = try AtomicFile(target: tree.path("list"))
        try file.write(Array("new!\n".utf8))
        #expect(try file.commit(ifChanged: true) == .replaced)
        #expect(try tree.read("list") == Array("new!\n".utf8))
        #expect(try tree.inode("list") != inode)
    }

    @Test("discarding leaves the old list and no temporary file")
    func discard() throws {
        let tree = try TemporaryTree("discard")
        try tree.file("list", "old\n")
        let file = try AtomicFile(target: tree.path("list"))
        try file.write(Array("partial".utf8))
        file.discard()
        #expect(try tree.read("list") == Array("old\n".utf8))
        #expect(try tree.names() == ["list"])
    }

    @Test("a target that cannot be written fails at once, naming the path")
    func unwritable() throws {
        let tree = try TemporaryTree("unwritable")
        try tree.file("plain", "x")
        try tree.directory("dir")
        for target in [tree.path("missing/list"), tree.path("plain/list"), tree.path("dir")] {
            #expect {
                try AtomicFile(target: target)
            } throws: { error in
                "\(error)".contains(target)
            }
        }
    }
}
