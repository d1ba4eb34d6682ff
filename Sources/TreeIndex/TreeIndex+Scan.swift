import CLinuxFS
import FileList
import LinuxCalls
import SystemPackage
import TreeScan

extension TreeIndex {
    /// Reads everything below `directory` (the whole tree for the root) with the parallel
    /// walk and merges each directory as it comes, in pre-order, so a directory's node
    /// always exists before its own listing arrives.
    public mutating func scan(
        root: String, below directory: NodeID = TreeIndex.root, options: ScanOptions,
        warn: @escaping @Sendable (ScanWarning) -> Void,
        directoryOpened: (@Sendable (FileDescriptor, [UInt8]) -> Void)? = nil,
        progress: ((_ entries: Int) -> Void)? = nil
    ) throws -> DirectoryChange {
        var total = DirectoryChange()
        var directories = 0
        let start = ScanStart(
            path: path(of: directory), underRestrictedDirectory: childrenAreUnderRestrictedDirectory(directory),
            hidden: childrenAreHidden(directory))
        _ = try ParallelWalk.run(
            root: root, start: start, options: options, warn: warn, directoryOpened: directoryOpened,
            transform: { $0 },
            consume: { scanned in
                guard scanned.readError == nil, let node = node(at: scanned.path), isDirectory(node) else { return }
                let change = replaceChildren(of: node, with: scanned)
                total.added += change.added
                total.removed += change.removed
                total.changed += change.changed
                total.linksToRecheck += change.linksToRecheck
                total.unresolvedInodes.formUnion(change.unresolvedInodes)
                total.linkedInodes.formUnion(change.linkedInodes)
                directories += 1
                if directories % 1024 == 0 { progress?(count) }
            })
        total.directoriesRead = directories
        return total
    }

    /// Names of hard-linked files that no longer match what the walk read, among inodes
    /// with names the index does not hold. A walk into an empty index (the daemon's
    /// first) reads one directory at a time, and a directory is watched only once it is
    /// opened: a name unlinked before its directory was read leaves no line and no event,
    /// yet changed the ctime of its inode's names read earlier. One `statx` for each
    /// name of such an inode; inodes whose names are all indexed are left to
    /// `unsettledLinks()`.
    public func linksChangedSinceRead(root: FileDescriptor) -> [NodeID] {
        var stale: [NodeID] = []
        for (_, group) in inodeNames {
            guard let first = group.first, let linked = inodeOfNode[first], group.count < Int(linked.linkCount)
            else { continue }
            for node in group {
                var pathBytes = path(of: node)
                pathBytes.append(0)
                var info = qm_stat()
                let error = pathBytes.withUnsafeBufferPointer { buffer in
                    buffer.withMemoryRebound(to: CChar.self) {
                        Linux.statx(root, $0.baseAddress!, followSymlink: false, into: &info)
                    }
                }
                let index = Int(node)
                if error != nil || info.nlink != inodeOfNode[node]?.linkCount
                    || max(info.mtime, info.ctime) != time[index]
                    || Int64(info.size) != size[index]
                {
                    stale.append(node)
                }
            }
        }
        return stale
    }

    /// Re-checks every symlink's target: a link whose target vanished, appeared or
    /// changed its group bit gains or loses its line with no event on the link itself.
    /// Returns how many links changed.
    public mutating func revalidateSymlinks(root: FileDescriptor) -> Int {
        var changed = 0
        for node in symlinks {
            // A link below a hidden directory, or named like rsync's or NFS's temporary
            // files, has no line, whatever its target.
            if childrenAreHidden(parent[Int(node)])
                || name(of: node).withUnsafeBufferPointer({ EntryRules.isAlwaysSkipped($0) })
            {
                if setListed(node, false) { changed += 1 }
                continue
            }
            var pathBytes = path(of: node)
            pathBytes.append(0)
            var target = qm_stat()
            let error = pathBytes.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) {
                    Linux.statx(root, $0.baseAddress!, followSymlink: true, into: &target)
                }
            }
            let listed = error == nil && EntryRules.isListed(modeOfEntryOrTarget: target.mode)
            if setListed(node, listed) { changed += 1 }
        }
        return changed
    }

    /// Returns whether anything changed.
    mutating func setListed(_ node: NodeID, _ listed: Bool) -> Bool {
        let old = flags[Int(node)]
        guard old.isListed != listed else { return false }
        if journal != nil {
            if old.kind == .directory { journalSubtree(below: node) }
            journalLine(of: node)
        }
        let new = NodeFlags(kind: old.kind, access: old.access, isListed: listed, inUse: true)
        noteBlockChange(of: node, was: old, is: new)
        flags[Int(node)] = new
        listedCount += listed ? 1 : -1
        return true
    }
}
