import FileList
import Testing
import TreeFixtures
import TreeScan

@Suite("The same tree always gives the same bytes", .ownThread)
struct DeterminismTests {
    /// Enough directories that two walker threads interleave differently on every run.
    static func makeWideTree() throws -> TemporaryTree {
        let tree = try TemporaryTree("wide")
        for release in 0..<6 {
            for letter in ["a", "b", "c", "k", "z"] {
                for package in 0..<25 {
                    try tree.file("releases/\(release)/Packages/\(letter)/\(letter)pkg-\(package)-1.0.rpm", "x")
                }
            }
        }
        return tree
    }

    @Test("one thread, two threads and eight threads write identical lists")
    func threadCounts() throws {
        let tree = try Self.makeWideTree()
        let outputs = try [1, 2, 8].map { workers in try generate(tree) { $0.workers = workers }.list }
        #expect(outputs[0] == outputs[1])
        #expect(outputs[0] == outputs[2])
        #expect(ListLines.files(of: outputs[0]).count == 6 * 5 * 25 + 1 + 6 + 6 + 6 * 5)
    }

    @Test("entries come directory by directory, in pre-order, each directory's children sorted by name bytes")
    func order() throws {
        let tree = try TemporaryTree("order")
        for name in ["b", "a-c", "a/z", "a/b/y", "B", "a.d", "\u{E9}", "e\u{301}"] { try tree.file(name, "") }
        let paths = try FileListReader.parse(try generate(tree).list).entries.map(\.displayPath)
        #expect(paths == ["B", "a", "a-c", "a.d", "b", "e\u{301}", "\u{E9}", "a/b", "a/z", "a/b/y"])
    }

    @Test("repeated runs give the same bytes")
    func repeated() throws {
        let tree = try Self.makeWideTree()
        #expect(try generate(tree).list == generate(tree).list)
    }
}
