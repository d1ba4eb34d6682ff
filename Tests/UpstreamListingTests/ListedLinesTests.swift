import Testing
import TreeFixtures

@testable import UpstreamListing

/// What one version of a list answers, and what changed between two versions, read
/// from lists written out by hand.
@Suite("a list held in memory", .ownThread)
struct ListedLinesTests {
    static let repomdDigest = String(repeating: "ab", count: 32)

    static let old = ListText(
        lines: [
            .directory("releases", 100),
            .directory("releases/40", 100),
            .file("releases/40/same.rpm", 100, 10),
            .file("releases/40/rewritten.rpm", 100, 10),
            .file("releases/40/grown.rpm", 100, 10),
            .file("releases/40/deleted.rpm", 100, 10),
            .file("releases/40/became-directory", 100, 10),
            .directory("releases/40/became-file", 100),
            .symlink("releases/latest", 100, target: "40"),
            .symlink("releases/repointed", 100, target: "40"),
            .file("releases/40/restricted.rpm", 100, 10),
            .file("releases/40/repodata/repomd.xml", 100, 9),
            .file("releases/40/repodata/resummed.xml", 100, 9),
        ],
        sha256: [
            "releases/40/repodata/repomd.xml": repomdDigest,
            "releases/40/repodata/resummed.xml": String(repeating: "0", count: 64),
        ])

    static let new = ListText(
        lines: [
            // Another order than the old list's: lines are matched by path, not position.
            .file("releases/40/repodata/repomd.xml", 100, 9),
            .directory("releases", 100),
            .directory("releases/40", 101),
            .file("releases/40/same.rpm", 100, 10),
            .file("releases/40/rewritten.rpm", 200, 10),
            .file("releases/40/grown.rpm", 100, 11),
            .directory("releases/40/became-directory", 200),
            .file("releases/40/became-file", 200, 3),
            .symlink("releases/latest", 100, target: "40"),
            .symlink("releases/repointed", 200, target: "41"),
            .init(time: 100, type: "f-", size: 10, path: "releases/40/restricted.rpm"),
            .file("releases/40/repodata/resummed.xml", 100, 9),
            .file("releases/40/added.rpm", 200, 5),
        ],
        sha256: [
            "releases/40/repodata/repomd.xml": repomdDigest,
            "releases/40/repodata/resummed.xml": String(repeating: "f", count: 64),
        ])

    @Test("a file's line gives its time, size and SHA-256; directories, symlinks and unlisted paths give nil")
    func lookups() throws {
        let lines = try ListedLines(bytes: Self.old.bytes, source: "old")
        #expect(lines.listed(Array("releases/40/same.rpm".utf8)) == ListedFile(mtime: 100, size: 10))
        #expect(
            lines.listed(Array("releases/40/repodata/repomd.xml".utf8))
                == ListedFile(mtime: 100, size: 9, sha256: Self.repomdDigest))
        for path in ["releases", "releases/40", "releases/latest", "releases/40/nothing.rpm", "releases/40/same", ""] {
            #expect(lines.listed(Array(path.utf8)) == nil, "\(path)")
        }
    }

    @Test("two versions differ in exactly the files and symlinks whose line or checksum changed")
    func changes() throws {
        let changes = LineChanges(
            old: try ListedLines(bytes: Self.old.bytes, source: "old"),
            new: try ListedLines(bytes: Self.new.bytes, source: "new"))
        #expect(
            Set(changes.changed.map { String(decoding: $0, as: UTF8.self) }) == [
                "releases/40/rewritten.rpm", "releases/40/grown.rpm", "releases/40/became-file",
                "releases/repointed", "releases/40/restricted.rpm", "releases/40/repodata/resummed.xml",
                "releases/40/added.rpm",
            ])
        #expect(
            Set(changes.removed.map { String(decoding: $0, as: UTF8.self) }) == [
                "releases/40/deleted.rpm", "releases/40/became-directory",
            ])
        #expect(changes.changed.count == 7 && changes.removed.count == 2, "a path reported twice")
    }

    @Test("the same list twice has no changes")
    func noChanges() throws {
        let changes = LineChanges(
            old: try ListedLines(bytes: Self.old.bytes, source: "old"),
            new: try ListedLines(bytes: Self.old.bytes, source: "again"))
        #expect(changes.changed.isEmpty && changes.removed.isEmpty)
    }

    @Test("a malformed list is refused with its source and line")
    func malformed() throws {
        var text = Self.old.text
        text = text.replacingOccurrences(
            of: "100\tf\t10\treleases/40/grown.rpm", with: "100\tf\tten\treleases/40/grown.rpm")
        #expect {
            try ListedLines(bytes: Array(text.utf8), source: "http://127.0.0.1/list")
        } throws: { error in
            "\(error)".hasPrefix("http://127.0.0.1/list: line 9:") && "\(error)".contains("ten")
        }
    }

    @Test(
        "a list at DIR/NAME speaks for the request paths below DIR",
        arguments: [
            ("fedora/linux/fullfiletimelist-fedora", "fedora/linux/releases/x.rpm", "releases/x.rpm"),
            ("fedora/linux/fullfiletimelist-fedora", "fedora/linuxx/releases/x.rpm", nil),
            ("fedora/linux/fullfiletimelist-fedora", "fedora/linux", nil),
            ("fedora/linux/fullfiletimelist-fedora", "fedora/linux/", nil),
            ("fedora/linux/fullfiletimelist-fedora", "epel/x.rpm", nil),
            ("fullfiletimelist", "releases/x.rpm", "releases/x.rpm"),
            ("fullfiletimelist", "", nil),
        ] as [(String, String, String?)])
    func locations(list: String, request: String, entry: String?) throws {
        let location = try ListLocation(list)
        #expect(location.entryPath(request).map { String(decoding: $0, as: UTF8.self) } == entry)
        if let entry { #expect(location.requestPath(Array(entry.utf8)) == request) }
    }

    @Test(
        "a list path that leaves the upstream's root is refused, naming it",
        arguments: ["../list", "/list", "a//b", ""])
    func badLocations(list: String) {
        #expect {
            try ListLocation(list)
        } throws: { error in
            "\(error)".contains("--list '\(list)'")
        }
    }
}
