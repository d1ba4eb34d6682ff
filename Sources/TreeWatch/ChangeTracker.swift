import SystemPackage
import TreeIndex
import TreeScan

/// What one reconciliation did.
public struct ReconcileSummary: Sendable {
    public var directoriesRead = 0
    public var added = 0
    public var removed = 0
    public var changed = 0
    public var symlinksChanged = 0
    public var fullRescan = false
    /// Hard-linked inodes whose names changed: other trees holding names of them must
    /// re-read those (modules share hard links).
    public var linkedInodes: Set<UInt64> = []

    public init() {}

    public var drift: Int { added + removed + changed + symlinksChanged }

    mutating func add(_ change: DirectoryChange) {
        linkedInodes.formUnion(change.linkedInodes)
        added += change.added
        removed += change.removed
        changed += change.changed
    }
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
    private var needsFullRescan = false
    public private(set) var overflows = 0

    public init() {}

    public var hasWork: Bool { needsFullRescan || !dirty.isEmpty }

    /// Records an event; returns false when the root is gone.
    public mutating func note(_ event: WatchEvent, source: some EventSource) -> Bool {
        switch event {
        case .rootRemoved:
            return false
        case .overflow:
            overflows += 1
            needsFullRescan = true
        case .changed(let directory, let name, let isDirectory, let leftDirectory):
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

    /// Asks for a full rescan (SIGHUP, `filelistd rescan`, an audit).
    public mutating func requestFullRescan() { needsFullRescan = true }

    /// Re-reads every dirty directory (or the whole tree) into the index.
    public mutating func apply(
        to index: inout TreeIndex, root: String, rootFD: FileDescriptor, reader: borrowing DirectoryReader,
        options: ScanOptions, source: some EventSource, warn: @escaping @Sendable (ScanWarning) -> Void
    ) throws -> ReconcileSummary {
        var summary = ReconcileSummary()
        let opened: @Sendable (FileDescriptor, [UInt8]) -> Void = { [source] directory, path in
            try? source.directoryOpened(directory, path: path)
        }
        var queue: [[UInt8]]
        if needsFullRescan {
            summary.fullRescan = true
            let change = try index.scan(root: root, options: options, warn: warn, directoryOpened: opened)
            summary.add(change)
            queue = change.linksToRecheck.map { index.path(of: index.parentOf($0)) }
            // A full rescan reads every name: the inode map is complete afterwards.
        } else {
            // Parents first: a parent's re-read may remove a dirty child altogether.
            queue = dirty.sorted { $0.count < $1.count }
        }
        needsFullRescan = false
        dirty.removeAll()

        var done: Set<[UInt8]> = []
        var position = 0
        var unresolved: Set<UInt64> = []
        while true {
            if position == queue.count {
                // New hard links to files indexed as single links: find the other names by
                // inode, once for the whole batch, and re-read their directories.
                guard !unresolved.isEmpty else { break }
                for node in index.nodes(withInodes: unresolved) {
                    let directory = index.path(of: index.parentOf(node))
                    if !done.contains(directory) {
                        queue.append(directory)
                    } else {
                        done.remove(directory); queue.append(directory)
                    }
                }
                unresolved.removeAll()
                if position == queue.count { break }
            }
            let path = queue[position]
            position += 1
            guard done.insert(path).inserted, let node = index.node(at: path), index.isDirectory(node) else { continue }
            let scanned = reader.read(
                root: rootFD, path: path, underRestrictedDirectory: index.childrenAreUnderRestrictedDirectory(node),
                warn: warn, directoryOpened: opened)
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
            for link in change.linksToRecheck {
                let directory = index.path(of: index.parentOf(link))
                if !done.contains(directory) { queue.append(directory) }
            }
        }
        summary.symlinksChanged = index.revalidateSymlinks(root: rootFD)
        return summary
    }

    static func parent(of path: [UInt8]) -> [UInt8] {
        guard let slash = path.lastIndex(of: 0x2F) else { return [] }
        return Array(path[..<slash])
    }
}
