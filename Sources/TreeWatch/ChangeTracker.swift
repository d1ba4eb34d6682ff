import SystemPackage
import TreeIndex
import TreeScan

/// What one reconciliation did.
public struct ReconcileSummary: Sendable {
    /// Directories read, by a batch's re-reads and by walks below directories.
    public var directoriesRead = 0
    public var added = 0
    public var removed = 0
    public var changed = 0
    public var symlinksChanged = 0
    public var fullRescan = false
    /// Why the whole tree was read again, when it was.
    public var fullRescanCause: FullRescanCause?
    /// Hard-linked inodes whose names changed: other trees holding names of them must
    /// re-read those (modules share hard links).
    public var linkedInodes: Set<UInt64> = []

    public init() {}

    public var drift: Int { added + removed + changed + symlinksChanged }

    mutating func add(_ change: DirectoryChange) {
        linkedInodes.formUnion(change.linkedInodes)
        directoriesRead += change.directoriesRead
        added += change.added
        removed += change.removed
        changed += change.changed
    }
}

/// Why a batch read the whole tree rather than the directories its events named.
public enum FullRescanCause: Sendable, Equatable {
    /// The kernel dropped events.
    case overflow
    /// A name came and went before its inode was learned (the path, relative to the
    /// tree): it may have been a hard link to a file whose ctime no event reports.
    case nameCameAndWent([UInt8])
    /// Asked for: SIGHUP, `filelistd rescan`, an audit.
    case requested
}

/// Turns events into index mutations by re-reading the directories they name.
///
/// An event says "something about this name in this directory changed"; rather than
/// trust the kind of event (the kernel coalesces, and rules such as ctime on hard links
/// or a chmod flipping a whole subtree's suffixes reach beyond the named entry), the
/// directory is read again and merged. A directory's own line sits in its parent's
/// block, so the parent is re-read too. Like watchman, an overflow means a full rescan.
public struct ChangeTracker: ~Copyable {
    private var dirty: Set<[UInt8]> = []
    /// Inodes of the files events named (see `noteInode`).
    private var inodesSeen: Set<UInt64> = []
    private var needsFullRescan: FullRescanCause?
    /// Subtrees to read again whole, events or not (writers on other hosts).
    private var subtrees: [[UInt8]] = []
    public private(set) var overflows = 0
    /// Names that came and went unidentified (see `FullRescanCause.nameCameAndWent`).
    public private(set) var namesCameAndWent = 0

    public init() {}

    public var hasWork: Bool { needsFullRescan != nil || !dirty.isEmpty || !inodesSeen.isEmpty || !subtrees.isEmpty }

    /// An event named a file with this inode. A hard link made, written through and
    /// removed again before its directory is read never reaches the index, yet changed the
    /// other names' ctime and size: the index's names of the inode are re-read in the next
    /// batch. (The directories of names the index does not hold are read anyway.)
    public mutating func noteInode(_ inode: UInt64) { inodesSeen.insert(inode) }

    /// Records an event; returns false when the root is gone.
    public mutating func note(_ event: WatchEvent, source: some EventSource) -> Bool {
        switch event {
        case .rootRemoved:
            return false
        case .overflow:
            overflows += 1
            needsFullRescan = .overflow
        case .nameCameAndWent(let directory, let name):
            namesCameAndWent += 1
            if needsFullRescan == nil {
                needsFullRescan = .nameCameAndWent(directory.isEmpty ? name : directory + [0x2F] + name)
            }
        case .inodeChanged(let inode):
            inodesSeen.insert(inode)
        case .changed(let directory, let name, let isDirectory, let leftDirectory, let inode):
            if let inode { inodesSeen.insert(inode) }
            dirty.insert(directory)
            if !directory.isEmpty { dirty.insert(Self.parent(of: directory)) }
            if let name, isDirectory {
                let child = directory.isEmpty ? name : directory + [0x2F] + name
                if leftDirectory { source.forget(subtree: child) } else { dirty.insert(child) }
            }
        }
        return true
    }

    /// Asks for a re-read of one directory (a name of an inode changed in another tree).
    public mutating func markDirty(_ directory: [UInt8]) { dirty.insert(directory) }

    /// After a scan the tracker did not run (the daemon's initial scan): re-read the
    /// names of hard-linked inodes that the scan may have read on either side of a change,
    /// and, given the tree's `root`, those whose other name was unlinked unseen (see
    /// `linksChangedSinceRead`; nil when the event source reports such changes itself).
    public mutating func noteUnsettledLinks(in index: borrowing TreeIndex, root: FileDescriptor?) {
        let unseen = root.map { index.linksChangedSinceRead(root: $0) } ?? []
        for node in index.unsettledLinks() + unseen {
            dirty.insert(index.path(of: index.parentOf(node)))
        }
    }

    /// Asks for a full rescan (SIGHUP, `filelistd rescan`, an audit).
    public mutating func requestFullRescan() { needsFullRescan = needsFullRescan ?? .requested }

    /// Asks for the subtree at `path` (relative to the tree; empty for all of it) to be
    /// read again whole, and its directory's line with it: for changes no event reports,
    /// such as an NFS client's on another host. The cost follows the subtree.
    public mutating func requestRescan(of path: [UInt8]) { subtrees.append(path) }

    /// Re-reads every dirty directory (or the whole tree) into the index.
    public mutating func apply(
        to index: inout TreeIndex, root: String, rootFD: FileDescriptor, reader: borrowing DirectoryReader,
        options: ScanOptions, source: some EventSource, warn: @escaping @Sendable (ScanWarning) -> Void
    ) throws -> ReconcileSummary {
        var summary = ReconcileSummary()
        let opened: @Sendable (FileDescriptor, [UInt8]) -> Void = { [source] directory, path in
            source.directoryOpened(directory, path: path)
        }
        var queue = DirectoryQueue()
        var unresolved = inodesSeen
        inodesSeen.removeAll()
        if let cause = needsFullRescan {
            summary.fullRescan = true
            summary.fullRescanCause = cause
            let walked = try index.scan(root: root, options: options, warn: warn, directoryOpened: opened)
            summary.add(walked)
            // The walk reads one directory at a time while the tree may change: names of
            // one inode read on either side of a change disagree.
            for node in index.unsettledLinks() { queue.add(index.path(of: index.parentOf(node))) }
            // A name the walk found gone was unlinked, perhaps after the walk had read its
            // inode's other names: only the index's memory of it says which those are (the
            // removal's own event comes later and finds nothing left to compare).
            queue.addDirectories(of: walked.linksToRecheck, in: index)
            unresolved.formUnion(walked.unresolvedInodes)
        } else {
            for path in subtrees {
                // The nearest directory the index holds: the path itself, its parent for
                // a file, or an ancestor when the path is new or gone.
                var directory = path
                var found = index.node(at: directory)
                while found.map({ !index.isDirectory($0) }) ?? !directory.isEmpty {
                    directory = Self.parent(of: directory)
                    found = index.node(at: directory)
                }
                guard let node = found else { continue }
                if directory == path {
                    let below = try index.scan(
                        root: root, below: node, options: options, warn: warn, directoryOpened: opened)
                    summary.add(below)
                    queue.addDirectories(of: below.linksToRecheck, in: index)
                    unresolved.formUnion(below.unresolvedInodes)
                    // Its own line, in its parent's block.
                    if !path.isEmpty { dirty.insert(Self.parent(of: path)) }
                } else {
                    dirty.insert(directory)
                }
            }
            // Parents first: a parent's re-read may remove a dirty child altogether.
            for directory in dirty.sorted(by: { $0.count < $1.count }) { queue.add(directory) }
        }
        needsFullRescan = nil
        subtrees.removeAll()
        dirty.removeAll()

        var reads: [[UInt8]: Int] = [:]
        while true {
            guard let path = queue.next() else {
                // New hard links to files indexed as single links: find the other names by
                // inode, once for the whole batch, and re-read their directories.
                guard !unresolved.isEmpty else { break }
                for node in index.nodes(withInodes: unresolved) { queue.add(index.path(of: index.parentOf(node))) }
                unresolved.removeAll()
                continue
            }
            // A directory is read again when a name in it may have been read before a
            // change made through another name of its inode. A file that is written
            // without pause through two names would send two directories round forever:
            // after a few reads the directory waits for the next batch.
            reads[path, default: 0] += 1
            if reads[path]! > Self.readsPerBatch {
                dirty.insert(path)
                continue
            }
            guard let node = index.node(at: path) else {
                unresolved.formUnion(linkedInodes(inUnindexed: path, rootFD: rootFD, reader: reader))
                continue
            }
            guard index.isDirectory(node) else { continue }
            let scanned = reader.read(
                root: rootFD, path: path, underRestrictedDirectory: index.childrenAreUnderRestrictedDirectory(node),
                hidden: index.childrenAreHidden(node), warn: warn, directoryOpened: opened)
            // A directory that cannot be read was removed or replaced: its parent's
            // re-read takes it out.
            guard scanned.readError == nil else { continue }
            summary.directoriesRead += 1
            var change = index.replaceChildren(of: node, with: scanned)
            summary.add(change)
            unresolved.formUnion(change.unresolvedInodes)
            for directory in change.directoriesToScan where index.isDirectory(directory) {
                let below = try index.scan(
                    root: root, below: directory, options: options, warn: warn, directoryOpened: opened)
                summary.add(below)
                change.linksToRecheck += below.linksToRecheck
                unresolved.formUnion(below.unresolvedInodes)
            }
            queue.addDirectories(of: change.linksToRecheck, in: index)
        }
        summary.symlinksChanged = index.revalidateSymlinks(root: rootFD)
        return summary
    }

    /// Reads in the last batch that could not finish; more than this and a directory
    /// waits for the next batch.
    static let readsPerBatch = 4

    /// The inodes of hard-linked files in a directory the index does not hold (`.~tmp~`,
    /// or one made and filled since the last read of its parent): a write, chmod, link or
    /// unlink through such a name changes the line of its listed names elsewhere, and the
    /// event names only that directory.
    private func linkedInodes(
        inUnindexed path: [UInt8], rootFD: FileDescriptor, reader: borrowing DirectoryReader
    ) -> Set<UInt64> {
        let scanned = reader.read(root: rootFD, path: path, underRestrictedDirectory: false, warn: { _ in })
        var inodes: Set<UInt64> = []
        for entry in scanned.entries where entry.linkCount > 1 && !entry.isDirectory { inodes.insert(entry.inode) }
        return inodes
    }

    static func parent(of path: [UInt8]) -> [UInt8] {
        guard let slash = path.lastIndex(of: 0x2F) else { return [] }
        return Array(path[..<slash])
    }
}

/// Directories waiting to be read, each once until it is read; a directory that was read
/// may be added again.
struct DirectoryQueue {
    private var order: [[UInt8]] = []
    private var position = 0
    private var waiting: Set<[UInt8]> = []

    mutating func add(_ directory: [UInt8]) {
        if waiting.insert(directory).inserted { order.append(directory) }
    }

    /// The directories of names to read again, leaving out names the same read removed
    /// since (a subtree holding both names of a link): a freed node has no path.
    mutating func addDirectories(of names: [TreeIndex.NodeID], in index: borrowing TreeIndex) {
        for name in names where index.isInUse(name) { add(index.path(of: index.parentOf(name))) }
    }

    mutating func next() -> [UInt8]? {
        guard position < order.count else { return nil }
        let directory = order[position]
        position += 1
        waiting.remove(directory)
        return directory
    }
}
