import FileList
import Synchronization
import Testing
import TreeFixtures
import TreeScan

/// Collects warnings from the walker threads.
final class WarningLog: Sendable {
    private let items = Mutex<[ScanWarning]>([])
    func record(_ warning: ScanWarning) { items.withLock { $0.append(warning) } }
    var all: [ScanWarning] { items.withLock { $0 } }
}

func generate(
    _ tree: TemporaryTree, configure: (inout ScanOptions) -> Void = { _ in }
) throws -> (list: [UInt8], warnings: [ScanWarning]) {
    var options = ScanOptions()
    configure(&options)
    let log = WarningLog()
    let list = try FileListGenerator(options: options).generateBytes(root: tree.root, warn: log.record)
    return (list, log.all)
}

/// One expected `[Files]` line: the type is written out by hand from FORMAT.md's rules;
/// time and size come from lstat of the entry itself.
func line(_ tree: TemporaryTree, _ type: String, _ path: String) throws -> [UInt8] {
    Array("\(try tree.listTime(path))\t\(type)\t\(try tree.size(path))\t\(path)".utf8)
}

@Suite("create-filelist's listing rules (FORMAT.md), on a real tree", .ownThread)
struct ListingRulesTests {
    /// A tree with one example of every rule.
    static func makeRuleTree() throws -> TemporaryTree {
        let tree = try TemporaryTree("rules")
        try tree.file("pub/a.rpm", "aaaa")
        try tree.file("pub/hidden.rpm", "h", mode: 0o640)  // group yes, world no: f-
        try tree.file("pub/no-group.rpm", "n", mode: 0o604)  // world yes, group no: skipped
        try tree.file("pub/only-group.rpm", "g", mode: 0o040)  // listed as f-
        try tree.file("pub/private.rpm", "p", mode: 0o600)  // skipped
        try tree.symlink("pub/link-ok", to: "a.rpm")  // l, size = target length
        try tree.symlink("pub/dangling", to: "nowhere")  // skipped, "Could not stat"
        try tree.symlink("pub/link-to-private", to: "private.rpm")  // target not group-readable: skipped
        try tree.hardLink("pub/hard.rpm", to: "pub/a.rpm")
        try tree.fifo("pub/fifo")  // listed as f, size 0
        try tree.directory("restricted", mode: 0o750)  // d-
        try tree.file("restricted/file", "r")  // f*
        try tree.directory("restricted/inner")  // d*
        try tree.file("restricted/inner/deep", "d")  // f*
        try tree.file("restricted/inner/secret", "s", mode: 0o640)  // - wins over *
        try tree.symlink("restricted/link", to: "../pub/a.rpm")  // l*
        try tree.directory("closed", mode: 0o700)  // skipped with its subtree
        try tree.file("closed/x", "x")
        try tree.directory("shared", mode: 0o770)  // d-
        try tree.file("shared/y", "y", mode: 0o664)  // f*
        try tree.symlink("link-to-closed", to: "closed")  // target not group-readable: skipped
        try tree.symlink("link-to-restricted", to: "restricted")  // link's own mode: plain l
        try tree.file(".~tmp~/staged", "t")  // skipped at any depth
        try tree.file("pub/.~tmp~/staged", "t")
        try tree.file(".nfs0001", "n")  // skipped at any depth
        try tree.file("pub/.nfs0002", "n")
        try tree.file("pub/kept.nfs", "k")  // contains .nfs: kept
        try tree.file("pub/x.nfsy", "k")
        try tree.file("repodata/repomd.xml", "x\n")
        try tree.file("pub/repodata/repomd.xml", "y\n")
        try tree.file("top-only", "1")  // -S top-only: skipped here
        try tree.file("pub/top-only", "2")  // ... but kept below the top
        try tree.file("pub/bad\nname", "b")  // cannot be written: skipped with a warning
        try tree.file("pub/tab\tname", "b")
        try tree.file("pub/caf\u{E9}", "nfc")  // NFC and NFD: two files
        try tree.file("pub/cafe\u{301}", "nfd")
        try tree.rawNameFile(directory: "pub", name: Array("raw-".utf8) + [0xFF])
        try tree.directory("empty")
        return tree
    }

    @Test("the [Files] section is exactly the lines the rules give, and nothing else")
    func filesSection() throws {
        let tree = try Self.makeRuleTree()
        let (list, _) = try generate(tree) {
            $0.topLevelSkips = [Array("top-only".utf8)]
            $0.checksumNames = [Array("repomd.xml".utf8)]
        }
        let raw = Array("pub/raw-".utf8) + [0xFF]
        let expected: [[UInt8]] = [
            try line(tree, "d", "pub"),
            try line(tree, "f", "pub/a.rpm"),
            try line(tree, "f-", "pub/hidden.rpm"),
            try line(tree, "f-", "pub/only-group.rpm"),
            try line(tree, "l", "pub/link-ok"),
            try line(tree, "f", "pub/hard.rpm"),
            try line(tree, "f", "pub/fifo"),
            try line(tree, "f", "pub/kept.nfs"),
            try line(tree, "f", "pub/x.nfsy"),
            try line(tree, "d", "pub/repodata"),
            try line(tree, "f", "pub/repodata/repomd.xml"),
            try line(tree, "f", "pub/top-only"),
            try line(tree, "f", "pub/caf\u{E9}"),
            try line(tree, "f", "pub/cafe\u{301}"),
            try line(tree, "d-", "restricted"),
            try line(tree, "f*", "restricted/file"),
            try line(tree, "d*", "restricted/inner"),
            try line(tree, "f*", "restricted/inner/deep"),
            try line(tree, "f-", "restricted/inner/secret"),
            try line(tree, "l*", "restricted/link"),
            try line(tree, "d-", "shared"),
            try line(tree, "f*", "shared/y"),
            try line(tree, "l", "link-to-restricted"),
            try line(tree, "d", "repodata"),
            try line(tree, "f", "repodata/repomd.xml"),
            try line(tree, "d", "empty"),
            Array("\(try tree.listTime(rawPath: raw))\tf\t0\t".utf8) + raw,
        ]
        let actual = ListLines.files(of: list)
        #expect(Set(actual) == Set(expected))
        #expect(actual.count == expected.count, "no line twice")
    }

    @Test("a FIFO is listed as a plain file of size 0, as the reference does")
    func fifo() throws {
        let tree = try TemporaryTree("fifo")
        try tree.fifo("pipe")
        let lines = ListLines.files(of: try generate(tree).list)
        #expect(lines == [Array("\(try tree.listTime("pipe"))\tf\t0\tpipe".utf8)])
    }

    @Test("a name that is not UTF-8 is written as its raw bytes")
    func rawBytes() throws {
        let tree = try TemporaryTree("raw")
        let name = Array("raw-".utf8) + [0xFF, 0xFE]
        try tree.rawNameFile(directory: "", name: name)
        let list = try FileListReader.parse(try generate(tree).list)
        #expect(list.entries.map(\.path) == [name])
    }

    @Test("dangling symlinks and unwritable names are skipped with a warning that names them")
    func warnings() throws {
        let tree = try Self.makeRuleTree()
        let (_, warnings) = try generate(tree)
        #expect(warnings.contains(.danglingSymlink(path: "pub/dangling")))
        #expect(warnings.contains(.unlistableName(path: "pub/bad\nname")))
        #expect(warnings.contains(.unlistableName(path: "pub/tab\tname")))
        #expect(warnings.map(\.description).contains { $0.hasPrefix("Could not stat pub/dangling") })
        // A link whose target exists but is not group-readable is left out quietly.
        #expect(!warnings.map(\.description).contains { $0.contains("link-to-private") })
    }

    @Test("hard links show the inode's time on every name")
    func hardLinks() throws {
        let tree = try TemporaryTree("hard")
        try tree.file("a", "x")
        try tree.hardLink("b", to: "a")
        let list = try FileListReader.parse(try generate(tree).list)
        #expect(list.entries.count == 2)
        #expect(list.entries[0].time == list.entries[1].time)
        #expect(list.entries[0].time == (try tree.listTime("a")))
    }

    @Test("ctime counts: a chmod makes an old file look updated")
    func ctimeCounts() throws {
        let tree = try TemporaryTree("ctime")
        let path = try tree.file("old", "x")
        var times = [timespec(tv_sec: 1_000_000_000, tv_nsec: 0), timespec(tv_sec: 1_000_000_000, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
        let list = try FileListReader.parse(try generate(tree).list)
        #expect(list.entries.first!.time > 1_000_000_000, "ctime (now) wins over the old mtime")
    }

    @Test("-S names and skipped outputs apply only in the top directory")
    func topLevelSkips() throws {
        let tree = try TemporaryTree("skips")
        try tree.file("fullfiletimelist", "old list")
        try tree.file(".fullfiletimelist.tmp-abc", "partial")
        try tree.file("sub/fullfiletimelist", "nested")
        try tree.file("sub/.fullfiletimelist.tmp-abc", "nested")
        let list = try FileListReader.parse(
            try generate(tree) {
                $0.topLevelSkips = [Array("fullfiletimelist".utf8)]
                $0.topLevelSkipPrefixes = [Array(".fullfiletimelist.tmp-".utf8)]
            }.list)
        #expect(
            list.entries.map(\.displayPath) == ["sub", "sub/.fullfiletimelist.tmp-abc", "sub/fullfiletimelist"])
    }

    @Test("-c and -C checksum every file with those names, in one section sorted by path")
    func checksums() throws {
        let tree = try Self.makeRuleTree()
        try tree.file("pub/CHECKSUM", "x\n")
        let (list, _) = try generate(tree) {
            $0.checksumNames = [Array("repomd.xml".utf8), Array("CHECKSUM".utf8)]
        }
        // SHA1 of "x\n" and "y\n", as sha1sum prints them.
        let x = "6fcf9dfbd479ed82697fee719b9f8c610a11ff2a"
        let y = "9063a9f0e032b6239403b719cbbba56ac4e4e45f"
        #expect(
            ListLines.trailer(of: list) == """

                [Checksums SHA1]
                \(x)\tpub/CHECKSUM
                \(y)\tpub/repodata/repomd.xml
                \(x)\trepodata/repomd.xml

                [End]

                """)
    }

    @Test("more checksum algorithms give one section each, in the reference's order")
    func checksumAlgorithms() throws {
        let tree = try TemporaryTree("algorithms")
        try tree.file("repodata/repomd.xml", "x\n")
        let (list, _) = try generate(tree) {
            $0.checksumNames = [Array("repomd.xml".utf8)]
            $0.algorithms = [.sha1, .md5, .sha256]
        }
        let parsed = try FileListReader.parse(list)
        #expect(parsed.checksums[.sha1]?.map(\.hex) == ["6fcf9dfbd479ed82697fee719b9f8c610a11ff2a"])
        #expect(parsed.checksums[.md5]?.map(\.hex) == ["401b30e3b8b5d629635a5c613cdb7919"])
        #expect(
            parsed.checksums[.sha256]?.map(\.hex) == [
                "73cb3858a687a8494ca3323053016282f3dad39d42cf62ca4e79dda2aac7d9ac"
            ])
        #expect(parsed.checksums[.sha512] == nil)
    }

    @Test("a checksummed file that is not listed (not group-readable) gets no checksum line")
    func unlistedChecksum() throws {
        let tree = try TemporaryTree("unlisted")
        try tree.file("repodata/repomd.xml", "x\n", mode: 0o600)
        let parsed = try FileListReader.parse(try generate(tree) { $0.checksumNames = [Array("repomd.xml".utf8)] }.list)
        #expect(parsed.checksums[.sha1] == [])
    }
}

#if canImport(Glibc)
    import Glibc
#endif
