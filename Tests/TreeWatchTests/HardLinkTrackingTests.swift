import FileList
import Foundation
import Synchronization
import SystemPackage
import Testing
import TreeFixtures
import TreeIndex
import TreeScan
import TreeWatch

/// Events in, index state out: each case makes a change to a real tree, feeds the
/// tracker the events the kernel reports for it (by hand, through `ManualEventSource`),
/// and expects the index to render what `create-filelist` writes for the tree.
///
/// The hard-link cases are the sequences that made filelistd's list drift under
/// `treechurn.py` (issue 10): each changes an inode through one name, and the kernel
/// reports nothing about its other names.
@Suite("ChangeTracker turns hand-fed events into the index a fresh scan gives", .ownThread)
struct HardLinkTrackingTests {
    struct Step: Sendable {
        var change: @Sendable (TemporaryTree) throws -> Void
        /// What the kernel reports for the change: (directory, name) pairs.
        var events: [(String, String)]
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var setup: @Sendable (TemporaryTree) throws -> Void
        var steps: [Step]
        var testDescription: String { name }
    }

    static func append(_ tree: TemporaryTree, _ path: String, _ text: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: tree.path(path)))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(text.utf8))
        try handle.close()
    }

    static let cases: [Case] = [
        Case(
            name: "a write through one name in the same second as the last change: the other name's size",
            setup: { tree in
                try tree.file("a/file", "x")
                // The link, the scan and the write all fall in one second: the times stay
                // the same and only the size tells.
                sleepPastNextSecond()
                try tree.hardLink("b/link", to: "a/file")
            },
            steps: [Step(change: { try append($0, "b/link", "more") }, events: [("b", "link")])]),
        Case(
            name: "a write through one name in a later second: the other name's time and size",
            setup: { tree in
                try tree.file("a/file", "x")
                try tree.hardLink("b/link", to: "a/file")
            },
            steps: [
                Step(
                    change: { tree in
                        sleepPastNextSecond()
                        try append(tree, "b/link", "more")
                    }, events: [("b", "link")])
            ]),
        Case(
            name: "chmod 600 through one name hides both, chmod 644 through the other shows both",
            setup: { tree in
                try tree.file("a/file", "x")
                try tree.hardLink("b/link", to: "a/file")
            },
            steps: [
                Step(change: { try $0.setMode("a/file", 0o600) }, events: [("a", "file")]),
                Step(
                    change: { tree in
                        sleepPastNextSecond()
                        try tree.setMode("b/link", 0o644)
                    }, events: [("b", "link")]),
            ]),
        Case(
            name: "chmod 640 through one name in the same second: the other name's suffix",
            setup: { tree in
                try tree.file("a/file", "x")
                sleepPastNextSecond()
                try tree.hardLink("b/link", to: "a/file")
            },
            steps: [Step(change: { try $0.setMode("b/link", 0o640) }, events: [("b", "link")])]),
        Case(
            name: "a new link to a file that was not group-readable when it was scanned",
            setup: { tree in
                try tree.file("a/file", "x", mode: 0o600)
            },
            steps: [
                Step(
                    change: { tree in
                        try tree.hardLink("b/link", to: "a/file")
                        sleepPastNextSecond()
                        try tree.setMode("b/link", 0o644)
                    }, events: [("b", "link"), ("b", "link")])
            ]),
        Case(
            name: "a write through a name in a hidden directory changes the listed name",
            setup: { tree in
                try tree.file("hidden/file", "x")
                try tree.hardLink("pub/link", to: "hidden/file")
                try tree.setMode("hidden", 0o700)
            },
            steps: [
                Step(
                    change: { tree in
                        sleepPastNextSecond()
                        try append(tree, "hidden/file", "more")
                    }, events: [("hidden", "file")])
            ]),
        Case(
            name: "a hidden directory moved elsewhere, then a write through a name in it",
            setup: { tree in
                try tree.file("hidden/file", "x")
                try tree.hardLink("pub/link", to: "hidden/file")
                try tree.setMode("hidden", 0o700)
            },
            steps: [
                Step(
                    change: { tree in
                        try FileManager.default.moveItem(
                            atPath: tree.path("hidden"), toPath: tree.path("pub/moved-hidden"))
                    }, events: [("", "hidden"), ("pub", "moved-hidden")]),
                Step(
                    change: { tree in
                        sleepPastNextSecond()
                        try append(tree, "pub/moved-hidden/file", "more")
                    }, events: [("pub/moved-hidden", "file")]),
            ]),
        Case(
            name: "a link made from inside a directory that was hidden when it was scanned",
            setup: { tree in
                try tree.file("hidden/deep/file", "x")
                try tree.setMode("hidden", 0o700)
            },
            steps: [
                Step(
                    change: { tree in
                        try tree.hardLink("pub/link", to: "hidden/deep/file")
                        sleepPastNextSecond()
                        try append(tree, "hidden/deep/file", "more")
                    }, events: [("pub", "link"), ("hidden/deep", "file")])
            ]),
        Case(
            name: "a symlink inside a hidden directory stays out when its target appears",
            setup: { tree in
                try tree.symlink("hidden/link", to: "../target")
                try tree.setMode("hidden", 0o700)
            },
            steps: [Step(change: { try $0.file("target", "t") }, events: [("", "target")])]),
        Case(
            name: "one name silly-renamed to .nfs, then unlinked: the other name's time",
            setup: { tree in
                try tree.file("a/file", "x")
                try tree.hardLink("b/link", to: "a/file")
            },
            steps: [
                Step(
                    change: { tree in
                        try FileManager.default.moveItem(atPath: tree.path("b/link"), toPath: tree.path("b/.nfs00ab"))
                    }, events: [("b", "link"), ("b", ".nfs00ab")]),
                Step(
                    change: { tree in
                        sleepPastNextSecond()
                        try tree.remove("b/.nfs00ab")
                    }, events: [("b", ".nfs00ab")]),
            ]),
        Case(
            name: "a name staged in .~tmp~ and removed there: the other name's time",
            setup: { tree in
                try tree.file("a/file", "x")
                try tree.directory("b/.~tmp~")
            },
            steps: [
                Step(change: { try $0.hardLink("b/.~tmp~/staged", to: "a/file") }, events: [("b/.~tmp~", "staged")]),
                Step(
                    change: { tree in
                        sleepPastNextSecond()
                        try tree.remove("b/.~tmp~/staged")
                    }, events: [("b/.~tmp~", "staged")]),
            ]),
        Case(
            name: "a new link to a file indexed as a single link",
            setup: { tree in try tree.file("a/file", "x") },
            steps: [
                Step(
                    change: { tree in
                        sleepPastNextSecond()
                        try tree.hardLink("b/link", to: "a/file")
                    }, events: [("b", "link")])
            ]),
        Case(
            name: "unlinking one of three names, then renaming another",
            setup: { tree in
                try tree.file("a/file", "x")
                try tree.hardLink("b/link", to: "a/file")
                try tree.hardLink("c/link", to: "a/file")
            },
            steps: [
                Step(
                    change: { tree in
                        sleepPastNextSecond()
                        try tree.remove("b/link")
                    }, events: [("b", "link")]),
                Step(
                    change: { tree in
                        sleepPastNextSecond()
                        try tree.directory("d")
                        try FileManager.default.moveItem(atPath: tree.path("c/link"), toPath: tree.path("d/moved"))
                    }, events: [("", "d"), ("c", "link"), ("d", "moved")]),
            ]),
        Case(
            name: "a name removed and the same name linked again to another inode",
            setup: { tree in
                try tree.file("a/file", "x")
                try tree.file("a/other", "yy")
                try tree.hardLink("b/link", to: "a/file")
            },
            steps: [
                Step(
                    change: { tree in
                        sleepPastNextSecond()
                        try tree.remove("b/link")
                        try tree.hardLink("b/link", to: "a/other")
                    }, events: [("b", "link"), ("b", "link")])
            ]),
    ]

    static var options: ScanOptions {
        var options = ScanOptions()
        options.checksumNames = [Array("repomd.xml".utf8)]
        return options
    }

    /// The options the daemon scans with.
    static var watcherOptions: ScanOptions {
        var options = Self.options
        options.keepUnlistedSymlinks = true
        options.keepHiddenEntries = true
        return options
    }

    @Test(arguments: cases)
    func hardLinks(_ scenario: Case) throws {
        let tree = try TemporaryTree("tracker")
        try scenario.setup(tree)
        let source = try ManualEventSource()
        var index = TreeIndex()
        _ = try index.scan(root: tree.root, options: Self.watcherOptions, warn: { _ in })
        let rootFD = try FileDescriptor.open(tree.root, .readOnly, options: .directory)
        defer { try? rootFD.close() }
        var tracker = ChangeTracker()
        tracker.noteUnsettledLinks(in: index, root: rootFD)
        let reader = DirectoryReader(options: Self.watcherOptions)
        for (number, step) in scenario.steps.enumerated() {
            try step.change(tree)
            source.feed(
                step.events.map { directory, name in
                    .changed(
                        directory: Array(directory.utf8), name: Array(name.utf8), isDirectory: false,
                        leftDirectory: false)
                })
            for event in try source.readEvents() {
                let rootStays = tracker.note(event, source: source)
                #expect(rootStays)
            }
            _ = try tracker.apply(
                to: &index, root: tree.root, rootFD: rootFD, reader: reader, options: Self.watcherOptions,
                source: source, warn: { _ in })
            let expected = try FileListGenerator(options: Self.options).generateBytes(root: tree.root)
            let rendered = index.renderBytes()
            #expect(
                rendered == expected,
                """
                after step \(number + 1): the index renders
                \(String(decoding: rendered, as: UTF8.self))
                create-filelist writes
                \(String(decoding: expected, as: UTF8.self))
                """)
        }
    }

    @Test("a name read after a change made through another name, and then reported unchanged")
    func readOnEitherSideOfAChange() throws {
        // The initial scan (and a batch) reads one directory at a time: a/ before a write
        // through b/link, b/ after it. The write's event then finds b/link as the index
        // already has it; only comparing the names of the inode shows a/file is stale.
        let tree = try TemporaryTree("tracker-race")
        try tree.file("a/file", "x")
        try tree.hardLink("b/link", to: "a/file")
        let source = try ManualEventSource()
        var index = TreeIndex()
        _ = try index.scan(root: tree.root, options: Self.watcherOptions, warn: { _ in })
        let rootFD = try FileDescriptor.open(tree.root, .readOnly, options: .directory)
        defer { try? rootFD.close() }
        let reader = DirectoryReader(options: Self.watcherOptions)

        sleepPastNextSecond()
        try Self.append(tree, "b/link", "more")
        // b/ read after the write, a/ not: what the walk's order can give.
        let found = index.node(at: Array("b".utf8))
        let b = try #require(found)
        let scanned = reader.read(root: rootFD, path: Array("b".utf8), underRestrictedDirectory: false, warn: { _ in })
        _ = index.replaceChildren(of: b, with: scanned)
        #expect(index.unsettledLinks().count == 2)

        var tracker = ChangeTracker()
        let rootStays = tracker.note(
            .changed(directory: Array("b".utf8), name: Array("link".utf8), isDirectory: false, leftDirectory: false),
            source: source)
        #expect(rootStays)
        _ = try tracker.apply(
            to: &index, root: tree.root, rootFD: rootFD, reader: reader, options: Self.watcherOptions, source: source,
            warn: { _ in })
        #expect(index.renderBytes() == (try FileListGenerator(options: Self.options).generateBytes(root: tree.root)))
        #expect(index.unsettledLinks().isEmpty)
    }

    @Test("the other name is unlinked after its directory was read in the same batch")
    func unlinkBetweenReadsOfOneBatch() throws {
        // What drifted under treechurn.py with pauses (seeds 1 and 2): a batch reads a/,
        // then the churn unlinks bb/link (a/file's ctime changes, no event in a/), then
        // the batch reads bb/ and asks for a/ again, which it had already read.
        let tree = try TemporaryTree("tracker-unlink")
        try tree.file("a/file", "x")
        try tree.hardLink("bb/link", to: "a/file")
        try tree.file("bb/other", "y")
        let source = try ManualEventSource()
        var index = TreeIndex()
        _ = try index.scan(root: tree.root, options: Self.watcherOptions, warn: { _ in })
        let rootFD = try FileDescriptor.open(tree.root, .readOnly, options: .directory)
        defer { try? rootFD.close() }
        let reader = DirectoryReader(options: Self.watcherOptions)

        sleepPastNextSecond()
        try tree.file("a/new", "n")
        try tree.file("bb/other", "changed")
        let unlinkPath = tree.path("bb/link")
        source.whenOpened(Array("bb".utf8)) {
            sleepPastNextSecond()
            unlink(unlinkPath)
        }
        var tracker = ChangeTracker()
        for (directory, name) in [("a", "new"), ("bb", "other")] {
            let rootStays = tracker.note(
                .changed(
                    directory: Array(directory.utf8), name: Array(name.utf8), isDirectory: false, leftDirectory: false),
                source: source)
            #expect(rootStays)
        }
        _ = try tracker.apply(
            to: &index, root: tree.root, rootFD: rootFD, reader: reader, options: Self.watcherOptions, source: source,
            warn: { _ in })
        // The unlink's own event comes in the next batch, and finds bb/ as the index has it.
        let rootStays = tracker.note(
            .changed(directory: Array("bb".utf8), name: Array("link".utf8), isDirectory: false, leftDirectory: false),
            source: source)
        #expect(rootStays)
        _ = try tracker.apply(
            to: &index, root: tree.root, rootFD: rootFD, reader: reader, options: Self.watcherOptions, source: source,
            warn: { _ in })
        #expect(index.renderBytes() == (try FileListGenerator(options: Self.options).generateBytes(root: tree.root)))
    }

    @Test("the other name is unlinked during a full rescan, after the walk read this one")
    func unlinkDuringAFullRescan() throws {
        // treechurn.py seed 12 at 2.55M entries, inotify: a name came and went, the batch
        // read the whole tree (ten seconds), and meanwhile a hard link was removed. The
        // walk had read one name's directory before the unlink and the other's after it,
        // which no longer held the name: the index alone knew it was a name of the same
        // inode. The unlink's event, in the next batch, found that directory as the index
        // already had it.
        let tree = try TemporaryTree("tracker-rescan-unlink")
        try tree.file("a/f", "x")
        try tree.hardLink("c/f", to: "a/f")
        let source = try ManualEventSource()
        var options = Self.watcherOptions
        options.workers = 1
        var index = TreeIndex()
        _ = try index.scan(root: tree.root, options: options, warn: { _ in })
        let rootFD = try FileDescriptor.open(tree.root, .readOnly, options: .directory)
        defer { try? rootFD.close() }
        let reader = DirectoryReader(options: options)

        // One worker reads a/ and c/ one after the other, in an order this test does not
        // assume: the name in the second one is unlinked, after the first was read.
        let opened = UnlinkOnSecondOpen(of: ["a", "c"], name: "f", tree: tree, source: source)
        var tracker = ChangeTracker()
        tracker.requestFullRescan()
        _ = try tracker.apply(
            to: &index, root: tree.root, rootFD: rootFD, reader: reader, options: options, source: source,
            warn: { _ in })
        #expect(opened.count == 2)
        let gone = FileManager.default.fileExists(atPath: tree.path("a/f")) ? "c" : "a"
        let rootStays = tracker.note(
            .changed(directory: Array(gone.utf8), name: Array("f".utf8), isDirectory: false, leftDirectory: true),
            source: source)
        #expect(rootStays)
        _ = try tracker.apply(
            to: &index, root: tree.root, rootFD: rootFD, reader: reader, options: options, source: source,
            warn: { _ in })
        #expect(index.renderBytes() == (try FileListGenerator(options: Self.options).generateBytes(root: tree.root)))
    }

    @Test("the other name is unlinked during the first scan, before its directory was read")
    func unlinkDuringTheFirstScan() throws {
        // The daemon's first walk starts from an empty index and watches a directory
        // when it opens it: a name unlinked before its directory was opened leaves no
        // line, no event and no name to compare with, only a link count and a ctime
        // that the name read earlier no longer has. The directory's own line, read with
        // its parent before the unlink, is stale too.
        let tree = try TemporaryTree("tracker-first-scan-unlink")
        try tree.file("a/f", "x")
        try tree.hardLink("c/f", to: "a/f")
        try tree.file("outside/f", "y")
        try tree.hardLink("a/g", to: "outside/f")
        let source = try ManualEventSource()
        var options = Self.watcherOptions
        options.workers = 1
        options.topLevelSkips = [Array("outside".utf8)]
        let opened = UnlinkOnSecondOpen(of: ["a", "c"], name: "f", tree: tree, source: source)
        var index = TreeIndex()
        _ = try index.scan(
            root: tree.root, options: options, warn: { _ in },
            directoryOpened: { source.directoryOpened($0, path: $1) })
        #expect(opened.count == 2)
        let rootFD = try FileDescriptor.open(tree.root, .readOnly, options: .directory)
        defer { try? rootFD.close() }
        // a/g's other name is outside the tree and unchanged: it is looked at, not read again.
        #expect(index.linksChangedSinceRead(root: rootFD).count == 1)
        var tracker = ChangeTracker()
        tracker.noteUnsettledLinks(in: index, root: rootFD)
        _ = try tracker.apply(
            to: &index, root: tree.root, rootFD: rootFD, reader: DirectoryReader(options: options), options: options,
            source: source, warn: { _ in })
        var expectedOptions = Self.options
        expectedOptions.topLevelSkips = options.topLevelSkips
        #expect(index.renderBytes() == (try FileListGenerator(options: expectedOptions).generateBytes(root: tree.root)))
    }

    @Test("a directory removed whole, both names of a hard link in it, and most of the names' bytes")
    func subtreeWithBothNamesRemoved() throws {
        // Removing big/ frees big/x/f and reports its other name, big/y/f, to be read
        // again; that name is freed a moment later in the same merge, and the name arena,
        // now mostly garbage, is compacted for the names still in use. Reading the freed
        // name's path afterwards went out of the arena's range (found in review).
        let tree = try TemporaryTree("tracker-subtree-links")
        let long = String(repeating: "n", count: 200)
        for index in 0..<6000 { try tree.file("big/\(long)\(index)") }
        try tree.file("big/x/f", "x")
        try tree.hardLink("big/y/f", to: "big/x/f")
        try tree.file("keep/f", "k")
        let source = try ManualEventSource()
        var index = TreeIndex()
        _ = try index.scan(root: tree.root, options: Self.watcherOptions, warn: { _ in })
        let rootFD = try FileDescriptor.open(tree.root, .readOnly, options: .directory)
        defer { try? rootFD.close() }

        try tree.remove("big")
        var tracker = ChangeTracker()
        let rootStays = tracker.note(
            .changed(directory: [], name: Array("big".utf8), isDirectory: true, leftDirectory: true), source: source)
        #expect(rootStays)
        _ = try tracker.apply(
            to: &index, root: tree.root, rootFD: rootFD, reader: DirectoryReader(options: Self.watcherOptions),
            options: Self.watcherOptions, source: source, warn: { _ in })
        #expect(index.renderBytes() == (try FileListGenerator(options: Self.options).generateBytes(root: tree.root)))
    }

    @Test("a link made, written through and removed between two reads of its directory")
    func linkGoneBeforeItsDirectoryIsRead() throws {
        // treechurn.py seed 4: the index never sees the new name, only the events for it;
        // the daemon notes the inode when the creation's event arrives (the name still
        // exists then), and the tracker looks it up.
        let tree = try TemporaryTree("tracker-transient")
        try tree.file("a/file", "x")
        try tree.directory("b")
        let source = try ManualEventSource()
        var index = TreeIndex()
        _ = try index.scan(root: tree.root, options: Self.watcherOptions, warn: { _ in })
        let rootFD = try FileDescriptor.open(tree.root, .readOnly, options: .directory)
        defer { try? rootFD.close() }
        let reader = DirectoryReader(options: Self.watcherOptions)

        var tracker = ChangeTracker()
        try tree.hardLink("b/h", to: "a/file")
        tracker.noteInode(try tree.inode("b/h"))
        sleepPastNextSecond()
        try Self.append(tree, "b/h", String(repeating: "w", count: 153))
        try tree.remove("b/h")
        for _ in 0..<3 {
            let rootStays = tracker.note(
                .changed(directory: Array("b".utf8), name: Array("h".utf8), isDirectory: false, leftDirectory: false),
                source: source)
            #expect(rootStays)
        }
        _ = try tracker.apply(
            to: &index, root: tree.root, rootFD: rootFD, reader: reader, options: Self.watcherOptions, source: source,
            warn: { _ in })
        #expect(index.renderBytes() == (try FileListGenerator(options: Self.options).generateBytes(root: tree.root)))
    }
}

/// Unlinks `name` in whichever of two directories a one-worker walk opens second (the
/// order is not assumed), in a later second than the first was read in.
final class UnlinkOnSecondOpen: Sendable {
    private let opened = Mutex(0)

    init(of directories: [String], name: String, tree: TemporaryTree, source: ManualEventSource) {
        for directory in directories {
            let path = tree.path("\(directory)/\(name)")
            source.whenOpened(Array(directory.utf8)) { [self] in
                guard
                    opened.withLock({ count in
                        count += 1
                        return count == 2
                    })
                else { return }
                sleepPastNextSecond()
                unlink(path)
            }
        }
    }

    /// How many of the directories were opened.
    var count: Int { opened.withLock { $0 } }
}
