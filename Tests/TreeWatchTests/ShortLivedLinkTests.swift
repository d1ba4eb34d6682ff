import FileList
import Foundation
import LinuxCalls
import SystemPackage
import Testing
import TreeFixtures
import TreeIndex
import TreeScan
import TreeWatch

#if canImport(Glibc)
    import Glibc
#endif

/// A hard link made, written through and removed before the daemon reads its events: the
/// other name's size and ctime changed, and no event names it. At 2.55M entries a publish
/// kept the daemon's loop busy for seconds, so such links were gone by the time their
/// events were read, and the list kept the other name's old line (issue 19's drift).
///
/// With real kernel events: the source must learn the inode from the kernel (fanotify
/// names it) or as soon as the event arrives (inotify, read on a thread of its own), not
/// when the daemon gets round to the batch.
@Suite("a short-lived hard link, with kernel events", .ownThread)
struct ShortLivedLinkTests {
    static let options: ScanOptions = {
        var options = ScanOptions()
        options.keepUnlistedSymlinks = true
        options.keepHiddenEntries = true
        return options
    }()

    /// Scans the tree with `source` watching, runs `change`, then reads the events and
    /// applies them; returns what the index renders and what a fresh scan writes.
    static func indexAfter(
        _ change: (TemporaryTree, any EventSource) throws -> Void, tree: TemporaryTree, source: any EventSource
    ) throws -> (rendered: [UInt8], expected: [UInt8]) {
        var summary = ReconcileSummary()
        return try indexAfter(
            { tree, source in
                try change(tree, source)
                return []
            }, tree: tree, source: source, summary: &summary)
    }

    /// The same, where `change` may read events itself (as the daemon's reading thread
    /// does while the daemon is busy) and returns them.
    static func indexAfter(
        _ change: (TemporaryTree, any EventSource) throws -> [WatchEvent], tree: TemporaryTree,
        source: any EventSource, summary: inout ReconcileSummary
    ) throws -> (rendered: [UInt8], expected: [UInt8]) {
        var index = TreeIndex()
        _ = try index.scan(
            root: tree.root, options: options, warn: { _ in },
            directoryOpened: { [source] directory, path in source.directoryOpened(directory, path: path) })
        #expect(source.failure == nil)
        // Whatever the scan itself caused is read and dropped.
        _ = try source.readEvents()
        let early = try change(tree, source)
        var tracker = ChangeTracker()
        for event in try early + source.readEvents() { _ = tracker.note(event, source: source) }
        let rootFD = try FileDescriptor.open(tree.root, .readOnly, options: .directory)
        defer { try? rootFD.close() }
        summary = try tracker.apply(
            to: &index, root: tree.root, rootFD: rootFD, reader: DirectoryReader(options: options), options: options,
            source: source, warn: { _ in })
        return (index.renderBytes(), try FileListGenerator(options: ScanOptions()).generateBytes(root: tree.root))
    }

    static func append(_ tree: TemporaryTree, _ path: String, _ text: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: tree.path(path)))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(text.utf8))
        try handle.close()
    }

    /// Waits until `source` has something to read: the reading thread has taken the
    /// kernel's events for what was done so far.
    static func waitUntilReadable(_ source: any EventSource) {
        var descriptor = pollfd(fd: source.fileDescriptor.rawValue, events: Int16(POLLIN), revents: 0)
        _ = poll(&descriptor, 1, 10_000)
    }

    @Test(
        "fanotify: the link's events name its inode, read after the link is gone",
        .enabled(if: geteuid() == 0, "fanotify needs CAP_SYS_ADMIN: run the tests as root"))
    func fanotifyNamesTheInode() throws {
        let tree = try TemporaryTree("short-link-fanotify")
        try tree.file("a/file", "x\n")
        try tree.directory("b")
        let source = try FanotifySource(root: tree.root)
        try #require(source.reportsObjects, "this kernel's fanotify names no objects (before Linux 5.17)")
        let (rendered, expected) = try Self.indexAfter(
            { tree, _ in
                try tree.hardLink("b/q", to: "a/file")
                try Self.append(tree, "b/q", "more\n")
                try tree.remove("b/q")
            }, tree: tree, source: source)
        #expect(String(decoding: rendered, as: UTF8.self).contains("\tf\t7\ta/file\n"))
        #expect(rendered == expected)
    }

    @Test("inotify: the link is stat'ed as its creation is read, not when the batch is")
    func inotifyStatsOnArrival() throws {
        let tree = try TemporaryTree("short-link-inotify")
        try tree.file("a/file", "x\n")
        try tree.directory("b")
        let source = try EventReaderThread(try InotifySource(root: tree.root))
        defer { source.close() }
        let (rendered, expected) = try Self.indexAfter(
            { tree, source in
                try tree.hardLink("b/q", to: "a/file")
                // The daemon would be busy now; the reading thread is not.
                Self.waitUntilReadable(source)
                try Self.append(tree, "b/q", "more\n")
                try tree.remove("b/q")
            }, tree: tree, source: source)
        #expect(String(decoding: rendered, as: UTF8.self).contains("\tf\t7\ta/file\n"))
        #expect(rendered == expected)
    }

    @Test("inotify: a link made and removed before its creation is read leads to a read of the whole tree")
    func inotifyLinkGoneBeforeRead() throws {
        let tree = try TemporaryTree("short-link-unread")
        try tree.file("a/file", "x\n")
        try tree.directory("b")
        // Read by the test only when it asks: the reading thread was too late (at 2.55M
        // entries, on a loaded machine, the link was gone before the stat, 1 run in 2).
        let source = try InotifySource(root: tree.root)
        var summary = ReconcileSummary()
        let (rendered, expected) = try Self.indexAfter(
            { tree, _ in
                // The old line's time must differ from the new ctime.
                sleepPastNextSecond()
                try tree.hardLink("b/q", to: "a/file")
                try tree.remove("b/q")
                return []
            }, tree: tree, source: source, summary: &summary)
        #expect(summary.fullRescanCause == .nameCameAndWent(Array("b/q".utf8)))
        #expect(rendered == expected)
    }

    @Test("inotify: a directory is watched as its creation is read, so a link made and removed in it is seen")
    func inotifyWatchesNewDirectoryOnArrival() throws {
        let tree = try TemporaryTree("short-link-new-directory")
        try tree.file("a/file", "x\n")
        let source = try InotifySource(root: tree.root)
        var summary = ReconcileSummary()
        let (rendered, expected) = try Self.indexAfter(
            { tree, source in
                sleepPastNextSecond()
                try tree.directory("new")
                // What the reading thread does while the daemon is busy: it reads the
                // directory's creation, and watches it.
                let early = try source.readEvents()
                try tree.hardLink("new/q", to: "a/file")
                try tree.remove("new/q")
                return early
            }, tree: tree, source: source, summary: &summary)
        #expect(summary.fullRescanCause == .nameCameAndWent(Array("new/q".utf8)))
        #expect(rendered == expected)
    }

    @Test("inotify: a file renamed before its creation is read is found where it went, with no whole read")
    func inotifyRenamedBeforeRead() throws {
        let tree = try TemporaryTree("short-name-renamed")
        try tree.file("a/file", "x\n")
        try tree.directory("b")
        let source = try InotifySource(root: tree.root)
        var summary = ReconcileSummary()
        let (rendered, expected) = try Self.indexAfter(
            { tree, _ in
                try tree.file("b/.tmp", "new\n")
                #expect(rename(tree.path("b/.tmp"), tree.path("b/new")) == 0)
                return []
            }, tree: tree, source: source, summary: &summary)
        #expect(summary.fullRescanCause == nil)
        #expect(String(decoding: rendered, as: UTF8.self).contains("\tf\t4\tb/new\n"))
        #expect(rendered == expected)
    }

    @Test(
        "fanotify: a link count change with no name leads to every indexed name of the inode",
        .enabled(if: geteuid() == 0, "fanotify needs CAP_SYS_ADMIN: run the tests as root"))
    func linkCountChangeFindsTheNames() throws {
        let tree = try TemporaryTree("short-link-count")
        try tree.file("a/file", "x\n")
        try tree.hardLink("c/other", to: "a/file")
        let source = try FanotifySource(root: tree.root)
        try #require(source.reportsObjects, "this kernel's fanotify names no objects (before Linux 5.17)")
        let (rendered, expected) = try Self.indexAfter(
            { tree, _ in
                sleepPastNextSecond()
                // A name made outside the tree: the only events inside it are for the inode.
                let outside = tree.root + "-outside"
                try? FileManager.default.removeItem(atPath: outside)
                try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: false)
                defer { try? FileManager.default.removeItem(atPath: outside) }
                #expect(link(tree.path("a/file"), outside + "/q") == 0)
                #expect(unlink(outside + "/q") == 0)
            }, tree: tree, source: source)
        #expect(rendered == expected)
    }
}
