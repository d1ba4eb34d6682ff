import FileList
import Testing
import TreeFixtures
import TreeScan

/// `FileListDelta` merges lists in `FileListOrder`; these check that the order is the
/// one the generator really writes.
@Suite("Generated lists are in FileListOrder", .ownThread)
struct CanonicalOrderTests {
    /// Names whose bytes sort around '/' (0x2F): ' ' (0x20), '-' (0x2D) and '.' (0x2E)
    /// are below it, '0' and letters above it; plus NFC/NFD and a name that is not UTF-8.
    static func makeTrickyTree() throws -> TemporaryTree {
        let tree = try TemporaryTree("canonical")
        for name in [
            "a/b/c", "a/b.c", "a/b-c/d", "a/b/c.d/e", "a.b/c", "a-b/c", "a b/c", "a/-x", "a/.x", "a/.x.d/y", "-",
            ".hidden/a", "a0/b", "ab", "A/b", "b/a/b/c", "b.c", "caf\u{E9}", "cafe\u{301}", "z",
        ] {
            try tree.file(name, "x")
        }
        try tree.directory("a/empty")
        try tree.directory("a.b/empty")
        try tree.rawNameFile(directory: "a", name: [0x62, 0xFF])
        try tree.symlink("a/link", to: "b")
        return tree
    }

    static func paths(_ list: [UInt8]) -> [[UInt8]] {
        ListLines.files(of: list).map { line in
            var tabs = 0
            let start = line.firstIndex { byte in
                if byte == 0x09 { tabs += 1 }
                return tabs == 3
            }!
            return Array(line[(start + 1)...])
        }
    }

    @Test("each generated [Files] line comes strictly after the one before")
    func generatedListIsInOrder() throws {
        let tree = try Self.makeTrickyTree()
        let paths = Self.paths(try generate(tree).list)
        #expect(paths.count == 38)
        for (previous, next) in zip(paths, paths.dropFirst()) {
            #expect(
                FileListOrder.inOrder(previous, next),
                "\(String(decoding: previous, as: UTF8.self)) then \(String(decoding: next, as: UTF8.self))")
        }
        // Plain byte order of whole paths would put "a.b/c" before "a/b", and "a/b/c" before "a/z".
        #expect(paths != paths.sorted { $0.lexicographicallyPrecedes($1) })
    }

    @Test("a delta between two generated lists of a changing tree rebuilds the second")
    func deltaBetweenGeneratedLists() throws {
        let tree = try Self.makeTrickyTree()
        let old = try generate(tree) { $0.checksumNames = [Array("repomd.xml".utf8)] }.list
        try tree.remove("a/b")
        try tree.file("a/b", "now a file")
        try tree.file("a.b/new/deep", "x")
        try tree.file("a-b/repomd.xml", "<repomd/>")
        try tree.setMode("ab", 0o640)
        try tree.remove("b")
        let new = try generate(tree) { $0.checksumNames = [Array("repomd.xml".utf8)] }.list
        let delta = try FileListDelta.make(from: old, to: new, base: "before", result: "after")
        #expect(delta.editCount >= 10)
        #expect(try delta.applied(to: old) == new)
        #expect(try FileListDelta(decoding: delta.encoded()).applied(to: old) == new)
    }
}
