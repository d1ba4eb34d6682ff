import CLinuxFS
import FileList
import Publish
import LinuxCalls
import SystemPackage
import TreeIndex
import TreeScan
import TreeWatch

#if canImport(Glibc)
    import Glibc
#endif

/// One listed tree and everything the daemon keeps for it: its index, its pending
/// changes, its open root.
final class WatchedTree {
    let listed: ListedTree
    /// The tree's path relative to the watched directory: empty, or the module name.
    let prefix: [UInt8]
    let options: ScanOptions
    let rootFD: FileDescriptor
    let identity: (device: UInt64, inode: UInt64)
    let reader: DirectoryReader
    let source: ScopedSource
    var index = TreeIndex()
    var tracker = ChangeTracker()
    /// How each list was cut into segments when it was last published, and how the
    /// renderings of a publish in progress were (kept once the publish succeeds).
    private var layouts: [ListKind: BlockLayout] = [:]
    private var rendered: [ListKind: BlockLayout] = [:]

    init(listed: ListedTree, prefix: [UInt8], options: ScanOptions, source: any EventSource) throws(DaemonError) {
        self.listed = listed
        self.prefix = prefix
        self.options = options
        do {
            rootFD = try Linux.openat(nil, listed.root, flags: O_RDONLY | O_DIRECTORY)
            let info = try Linux.fstat(rootFD, displayPath: listed.root)
            identity = (UInt64(info.st_dev), UInt64(info.st_ino))
        } catch {
            let what = listed.module.map { "module '\($0)' at '\(listed.root)'" } ?? "'\(listed.root)'"
            throw DaemonError("cannot watch \(what): \(error.errno)")
        }
        reader = DirectoryReader(options: options)
        self.source = ScopedSource(base: source, prefix: prefix)
    }

    deinit { try? rootFD.close() }

    var name: String { listed.module ?? listed.root }

    /// The tree still exists at its path, as the same directory.
    var isIntact: Bool {
        guard let info = Linux.statPath(listed.root) else { return false }
        return UInt64(info.st_dev) == identity.device && UInt64(info.st_ino) == identity.inode
    }

    func scan(
        warn: @escaping @Sendable (ScanWarning) -> Void, progress: ((Int) -> Void)? = nil
    ) throws -> DirectoryChange {
        try index.scan(
            root: listed.root, options: options, warn: warn, directoryOpened: source.opener, progress: progress)
    }

    /// After every tree's first walk (a name in a module walked later may be unlinked
    /// after this one's names were read): the names to read again (see
    /// `ChangeTracker.noteUnsettledLinks`).
    func noteUnsettledLinks() {
        tracker.noteUnsettledLinks(in: index, root: source.reportsLinkCountChanges ? nil : rootFD)
    }

    func apply(warn: @escaping @Sendable (ScanWarning) -> Void) throws -> ReconcileSummary {
        try tracker.apply(
            to: &index, root: listed.root, rootFD: rootFD, reader: reader, options: options, source: source, warn: warn)
    }

    /// Notes the event for the tracker; returns false when the root is gone.
    func note(_ event: WatchEvent) -> Bool { tracker.note(event, source: source) }

    /// The event's path relative to this tree, when it falls inside it and is not about
    /// the daemon's own lists (publishing must not wake the daemon again: a list's named
    /// temporary file that is discarded comes and goes, and must not cost a full read).
    func localEvent(_ event: WatchEvent) -> WatchEvent? {
        switch event {
        case .inodeChanged(let inode):
            // A file's inode with no name: this tree's business only if it holds the inode.
            return index.nodes(withInode: inode).isEmpty ? nil : event
        case .changed(let directory, let name, let isDirectory, let left, let inode):
            guard let local = relative(directory) else { return nil }
            if local.isEmpty, let name, isOwnOutput(name) { return nil }
            return .changed(directory: local, name: name, isDirectory: isDirectory, leftDirectory: left, inode: inode)
        case .nameCameAndWent(let directory, let name):
            guard let local = relative(directory) else { return nil }
            if local.isEmpty, isOwnOutput(name) { return nil }
            return .nameCameAndWent(directory: local, name: name)
        case .overflow, .rootRemoved:
            return event
        }
    }

    private func isOwnOutput(_ name: [UInt8]) -> Bool {
        options.topLevelSkips.contains(name) || options.topLevelSkipPrefixes.contains { name.starts(with: $0) }
            || Self.isUnnamedTemporaryFile(name)
    }

    /// Writes to an O_TMPFILE are reported on its directory under the pseudo-name
    /// `#<inode>`. A real file of that name in the top directory would lose its events
    /// here, and would still be picked up by the next re-read of the top directory.
    static func isUnnamedTemporaryFile(_ name: [UInt8]) -> Bool {
        name.count > 1 && name[0] == 0x23 && name.dropFirst().allSatisfy { (0x30...0x39).contains($0) }
    }

    /// A directory of the watched top, relative to this tree; nil when outside it.
    private func relative(_ directory: [UInt8]) -> [UInt8]? {
        if prefix.isEmpty { return directory }
        if directory == prefix { return [] }
        guard directory.count > prefix.count, directory[prefix.count] == 0x2F, directory.starts(with: prefix) else {
            return nil
        }
        return Array(directory[(prefix.count + 1)...])
    }
}

/// An event source seen from one module: paths are relative to the module, the shared
/// source's are relative to the watched top directory.
final class ScopedSource: EventSource, @unchecked Sendable {
    let base: any EventSource
    let prefix: [UInt8]

    init(base: any EventSource, prefix: [UInt8]) {
        self.base = base
        self.prefix = prefix
    }

    var name: String { base.name }
    var fileDescriptor: FileDescriptor { base.fileDescriptor }
    var watchCount: Int { base.watchCount }
    var reportsLinkCountChanges: Bool { base.reportsLinkCountChanges }

    private func scoped(_ path: [UInt8]) -> [UInt8] {
        prefix.isEmpty ? path : path.isEmpty ? prefix : prefix + [0x2F] + path
    }

    func directoryOpened(_ directory: FileDescriptor, path: [UInt8]) {
        base.directoryOpened(directory, path: scoped(path))
    }

    var failure: WatchError? { base.failure }

    func readEvents() throws(WatchError) -> [WatchEvent] { [] }

    func forget(subtree path: [UInt8]) { base.forget(subtree: scoped(path)) }

    /// The scanner's hook: watch each directory before it is read.
    var opener: @Sendable (FileDescriptor, [UInt8]) -> Void {
        { [self] directory, path in self.directoryOpened(directory, path: path) }
    }
}

extension WatchedTree {
    /// The lists of this tree that may have changed since they were last published, for
    /// the publisher: the path lists, and the time list (renamed after them). A list that
    /// was never published is always rendered.
    func renders(
        version: Int, algorithms: [ChecksumAlgorithm], servedPath: (String) -> String,
        published: (String) -> Bool
    ) -> (pathLists: [ListPublisher.Render], timeList: ListPublisher.Render?) {
        func render(_ target: String?, _ kind: ListKind) -> ListPublisher.Render? {
            guard let target, !published(target) || index.hasUnpublishedChanges(in: kind) else { return nil }
            return ListPublisher.Render(
                target: target, path: servedPath(target),
                render: { [self] emit in
                    rendered[kind] = try index.renderSegments(
                        kind, version: version, algorithms: algorithms, previous: layouts[kind], emit: emit)
                },
                delta: { [self] base, result in
                    guard kind == .times else { return nil }
                    return try? index.journalDelta(base: base, result: result, algorithms: algorithms)
                })
        }
        return (
            [render(listed.pathListPath, .paths), render(listed.imageListPath, .images)].compactMap { $0 },
            render(listed.timeListPath, .times)
        )
    }

    /// Its group published: the renderings are what the lists hold now, and changes count
    /// from here.
    func published(algorithms: [ChecksumAlgorithm]) {
        layouts.merge(rendered) { _, new in new }
        rendered = [:]
        index.markPublished()
        index.startJournal(algorithms: algorithms)
    }

    /// Its group failed: the lists hold what they held, and the changes stay pending.
    func publishFailed() {
        rendered = [:]
        index.dropJournal()
    }
}
