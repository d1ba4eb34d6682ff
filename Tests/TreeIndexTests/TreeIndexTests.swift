import FileList
import Foundation
import Testing
import TreeFixtures
import TreeIndex
import TreeScan

func oneShot(_ tree: TemporaryTree, options: ScanOptions) throws -> [UInt8] {
    try FileListGenerator(options: options).generateBytes(root: tree.root)
}

func indexed(_ tree: TemporaryTree, options: ScanOptions) throws -> TreeIndex {
    var index = TreeIndex()
    var watcherOptions = options
    watcherOptions.keepUnlistedSymlinks = true
    _ = try index.scan(root: tree.root, options: watcherOptions, warn: { _ in })
    return index
}

@Suite("The in-memory index renders what create-filelist writes", .ownThread)
struct TreeIndexTests {
    static var options: ScanOptions {
        var options = ScanOptions()
        options.checksumNames = [Array("repomd.xml".utf8)]
        return options
    }

    static func makeTree() throws -> TemporaryTree {
        let tree = try TemporaryTree("index")
        for release in 0..<3 {
            for letter in ["a", "b", "k"] {
                for package in 0..<12 {
                    try tree.file("releases/\(release)/Packages/\(letter)/\(letter)-\(package).rpm", "x")
                }
            }
            try tree.file("releases/\(release)/repodata/repomd.xml", "r\(release)\n")
        }
        try tree.directory("restricted", mode: 0o750)
        try tree.file("restricted/a", "a")
        try tree.symlink("latest", to: "releases/2")
        try tree.symlink("dangling", to: "nowhere")
        try tree.hardLink("releases/0/hard.rpm", to: "releases/0/Packages/a/a-0.rpm")
        try tree.file("caf\u{E9}", "nfc")
        try tree.file("cafe\u{301}", "nfd")
        return tree
    }

    @Test("a freshly scanned index renders byte-identical to the one-shot generator")
    func freshScan() throws {
        let tree = try Self.makeTree()
        let index = try indexed(tree, options: Self.options)
        let expected = try oneShot(tree, options: Self.options)
        #expect(index.renderBytes() == expected)
        #expect(index.count == ListLines.files(of: expected).count)
    }

    @Test("re-reading changed directories brings the index back to what a fresh scan gives")
    func rescans() throws {
        let tree = try Self.makeTree()
        var index = try indexed(tree, options: Self.options)
        var options = Self.options
        options.keepUnlistedSymlinks = true
        let reader = DirectoryReader(options: options)
        let rootFD = try FileDescriptor.open(tree.root, .readOnly, options: .directory)
        defer { try? rootFD.close() }

        // Past a second boundary, so that every changed time shows in the list.
        sleepPastNextSecond()
        // Changes: new file, removed file, renamed directory, chmod of a directory,
        // a new hard link (the other name's ctime changes), the dangling link's target created.
        try tree.file("releases/1/new.rpm", "n")
        try tree.remove("releases/2/Packages/k/k-3.rpm")
        try FileManager.default.moveItem(
            atPath: tree.path("releases/0/Packages/b"), toPath: tree.path("releases/1/b-moved"))
        try tree.setMode("releases/2/Packages", 0o750)
        try tree.hardLink("releases/1/second-link.rpm", to: "releases/0/Packages/a/a-0.rpm")
        try tree.file("nowhere", "now here")

        func reread(_ path: String) throws {
            let found = index.node(at: Array(path.utf8))
            guard let node = found else {
                Issue.record("\(path) is not indexed")
                return
            }
            let scanned = reader.read(
                root: rootFD, path: Array(path.utf8),
                underRestrictedDirectory: index.childrenAreUnderRestrictedDirectory(node), warn: { _ in })
            var change = index.replaceChildren(of: node, with: scanned)
            for directory in change.directoriesToScan {
                change.linksToRecheck += try index.scan(
                    root: tree.root, below: directory, options: options, warn: { _ in }
                )
                .linksToRecheck
            }
            for link in change.linksToRecheck {
                try reread(String(decoding: index.path(of: index.parentOf(link)), as: UTF8.self))
            }
        }
        // Each changed directory, and its parent, whose block holds the directory's own
        // line (its mtime changed): what the change tracker re-reads for the same events.
        for path in [
            "", "releases", "releases/0", "releases/0/Packages", "releases/1", "releases/2", "releases/2/Packages/k",
        ] {
            try reread(path)
        }
        _ = index.revalidateSymlinks(root: rootFD)
        #expect(index.renderBytes() == (try oneShot(tree, options: Self.options)))
    }
}

import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif
