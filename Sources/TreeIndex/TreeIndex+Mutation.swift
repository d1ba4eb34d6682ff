import FileList
import TreeScan

/// What merging a freshly read directory changed, and what the caller must read next.
public struct DirectoryChange: Sendable {
    /// Subdirectories that are new, or whose subtree's `*`/`-` suffixes may have changed:
    /// the caller reads each of them and everything below.
    public var directoriesToScan: [TreeIndex.NodeID] = []
    /// Names whose inode may have a new ctime without any event for them (another name
    /// of the same inode was created, removed or changed): the caller re-reads their
    /// directories.
    public var linksToRecheck: [TreeIndex.NodeID] = []
    /// Inodes that gained a name while the index knew fewer names than their link count:
    /// the other names were indexed as single links; `TreeIndex.nodes(withInodes:)` finds them.
    public var unresolvedInodes: Set<UInt64> = []
    /// Inodes with several names whose ctime may have changed: names of the same inode in
    /// another index (another module) need a re-read too.
    public var linkedInodes: Set<UInt64> = []
    public var added = 0
    public var removed = 0
    public var changed = 0
    /// Directories read to make this change (a walk below a directory reads many).
    public var directoriesRead = 0

    public var isEmpty: Bool { added == 0 && removed == 0 && changed == 0 }
}

extension TreeIndex {
    /// Makes the children of `directory` exactly the entries of `scanned`, keeping the
    /// node ids (and so the subtrees) of names that are still there.
    public mutating func replaceChildren(
        of directory: NodeID, with scanned: ScannedDirectory
    ) -> DirectoryChange {
        var change = DirectoryChange()
        if directory != Self.root, let own = scanned.ownTimeAndSize, flags[Int(directory)].inUse,
            time[Int(directory)] != own.time || size[Int(directory)] != own.size
        {
            if journal != nil { journalLine(of: directory) }
            noteBlockChange(of: directory, was: flags[Int(directory)], is: flags[Int(directory)])
            time[Int(directory)] = own.time
            size[Int(directory)] = own.size
            change.changed += 1
        }
        let old = children[directory] ?? []
        var merged: [NodeID] = []
        merged.reserveCapacity(scanned.entries.count)
        let digests = digestsByName(scanned)
        var oldIndex = 0
        var newIndex = 0
        while oldIndex < old.count || newIndex < scanned.entries.count {
            let order: Int
            if oldIndex == old.count {
                order = 1
            } else if newIndex == scanned.entries.count {
                order = -1
            } else {
                order = scanned.withName(of: scanned.entries[newIndex]) { compareName(of: old[oldIndex], with: $0) }
            }
            if order < 0 {
                removeSubtree(old[oldIndex], change: &change)
                change.removed += 1
                oldIndex += 1
            } else if order > 0 {
                let entry = scanned.entries[newIndex]
                let node = scanned.withName(of: entry) { addNode(named: $0, parent: directory) }
                update(node, with: entry, isNew: true, change: &change)
                change.added += 1
                merged.append(node)
                if !digests.isEmpty || !checksums.isEmpty {
                    _ = setDigests(digests[Array(scanned.names[entry.nameRange])], for: node)
                }
                newIndex += 1
            } else {
                let entry = scanned.entries[newIndex]
                let node = old[oldIndex]
                let changedBefore = change.changed
                update(node, with: entry, isNew: false, change: &change)
                merged.append(node)
                if !digests.isEmpty || !checksums.isEmpty {
                    // Rewritten in the same second at the same size: only the checksum tells.
                    if setDigests(digests[Array(scanned.names[entry.nameRange])], for: node)
                        && change.changed == changedBefore
                    {
                        change.changed += 1
                    }
                }
                oldIndex += 1
                newIndex += 1
            }
        }
        if merged.isEmpty {
            children[directory] = nil
        } else {
            children[directory] = merged
        }
        compactNamesIfNeeded()
        return change
    }

    /// Removes a node and everything below it (a directory that vanished or became
    /// unreadable).
    public mutating func remove(_ node: NodeID) -> DirectoryChange {
        var change = DirectoryChange()
        guard node != Self.root, flags[Int(node)].inUse else { return change }
        let parentNode = parent[Int(node)]
        children[parentNode]?.removeAll { $0 == node }
        if children[parentNode]?.isEmpty == true { children[parentNode] = nil }
        removeSubtree(node, change: &change)
        change.removed += 1
        return change
    }

    private mutating func update(_ node: NodeID, with entry: ScannedEntry, isNew: Bool, change: inout DirectoryChange) {
        let index = Int(node)
        let old = flags[index]
        let new = NodeFlags(kind: entry.type.kind, access: entry.type.access, isListed: entry.isListed, inUse: true)
        // Only a line that changes is recorded: re-reading a directory of thousands of
        // files for one new name must not record the thousands.
        if journal != nil && (isNew || old.raw != new.raw || time[index] != entry.time || size[index] != entry.size) {
            // A directory hidden or shown takes its whole subtree out of the list or back.
            if !isNew && old.kind == .directory && old.isListed != new.isListed {
                journalSubtree(below: node)
            }
            journalLine(of: node)
        }
        if !isNew {
            if old.raw != new.raw || time[index] != entry.time || size[index] != entry.size { change.changed += 1 }
            if old.kind == .directory && new.kind != .directory {
                removeChildren(of: node, change: &change)
            } else if old.kind == .directory && new.kind == .directory
                && (old.access != new.access || old.isListed != new.isListed)
            {
                // A chmod of a directory flips `*` and `-` on its whole subtree, or hides
                // or shows it.
                change.directoriesToScan.append(node)
            }
            if old.isListed { listedCount -= 1 }
            if old.kind == .symlink { symlinks.remove(node) }
        }
        if new.kind == .directory && (isNew || old.kind != .directory) { change.directoriesToScan.append(node) }
        if new.kind == .symlink { symlinks.insert(node) }
        if new.isListed { listedCount += 1 }
        let lineChanged = isNew || old.raw != new.raw || time[index] != entry.time || size[index] != entry.size
        if lineChanged { noteBlockChange(of: node, was: isNew ? nil : old, is: new) }
        let inode32 = UInt32(truncatingIfNeeded: entry.inode)
        let wasInTable = !isNew && old.kind != .directory
        let belongsInTable = new.kind != .directory
        if wasInTable && (!belongsInTable || inode[index] != inode32) { inodeTable.remove(node, inodes: inode) }
        let insert = belongsInTable && (!wasInTable || inode[index] != inode32)
        flags[index] = new
        time[index] = entry.time
        size[index] = entry.size
        inode[index] = inode32
        if insert { inodeTable.insert(node, inodes: inode) }

        let key = InodeKey(device: entry.device, inode: entry.inode)
        let previous = inodeOfNode[node]?.key
        if previous != nil && (previous != key || entry.linkCount < 2) { forgetInode(of: node, change: &change) }
        guard entry.linkCount > 1 && new.kind != .directory else { return }
        if previous != key { inodeNames[key, default: []].append(node) }
        inodeOfNode[node] = LinkedName(key: key, mode: entry.mode, linkCount: entry.linkCount)
        // Time, size and mode belong to the inode, so a change through this name is a
        // change of every other name, which no event reports. Comparing with what the
        // index holds for the others, rather than only with this name's old line, also
        // catches a change made between the reads of two names (in the same batch, during
        // the initial scan) and a change within the same second (same time, new size).
        let others = otherLinks(of: node)
        let stale = lineChanged ? others : others.filter { !agree($0, node) }
        guard lineChanged || !stale.isEmpty else { return }
        change.linkedInodes.insert(entry.inode)
        change.linksToRecheck.append(contentsOf: stale)
        if others.count < Int(entry.linkCount) - 1 { change.unresolvedInodes.insert(entry.inode) }
    }

    private mutating func addNode(named name: UnsafeBufferPointer<UInt8>, parent parentNode: NodeID) -> NodeID {
        let start = UInt32(names.count)
        names.append(contentsOf: name)
        let placeholder = NodeFlags(kind: .file, access: .open, isListed: false, inUse: true)
        if let reused = freeNodes.popLast() {
            let index = Int(reused)
            // Another directory's segment boundary is not this one's.
            segmentEnds.forget(reused)
            parent[index] = parentNode
            nameStart[index] = start
            nameLength[index] = UInt8(name.count)
            flags[index] = placeholder
            size[index] = 0
            time[index] = 0
            inode[index] = 0
            return reused
        }
        parent.append(parentNode)
        nameStart.append(start)
        nameLength.append(UInt8(name.count))
        flags.append(placeholder)
        size.append(0)
        time.append(0)
        inode.append(0)
        return NodeID(parent.count - 1)
    }

    private mutating func removeChildren(of node: NodeID, change: inout DirectoryChange) {
        for child in children.removeValue(forKey: node) ?? [] { removeSubtree(child, change: &change) }
    }

    /// The lists' blocks a changed line touches: its directory's, in the time list; in the
    /// path lists too when a name came, went, or was listed or hidden; the image list when
    /// an image or a directory that may hold some did. `was` is nil for a new name.
    mutating func noteBlockChange(of node: NodeID, was old: NodeFlags?, is new: NodeFlags?) {
        let directory = parent[Int(node)]
        guard old?.isListed != new?.isListed || old?.kind != new?.kind else {
            blockChanges.lineChanged(in: directory)
            return
        }
        blockChanges.nameChanged(in: directory)
        if !blockChanges.images {
            let kinds = [old?.kind, new?.kind]
            blockChanges.images =
                kinds.contains(.directory)
                || (kinds.contains(.file)
                    && name(of: node).withUnsafeBufferPointer { EntryRules.isImage($0) })
        }
    }

    /// Frees a node and its subtree; the caller takes it out of its parent's children.
    private mutating func removeSubtree(_ node: NodeID, change: inout DirectoryChange) {
        noteBlockChange(of: node, was: flags[Int(node)], is: nil)
        // Every line first: once a directory's slot is freed, its children no longer
        // have a path to be recorded by.
        if journal != nil {
            journalLine(of: node)
            journalSubtree(below: node)
        }
        var stack = [node]
        while let current = stack.popLast() {
            if let below = children.removeValue(forKey: current) { stack.append(contentsOf: below) }
            let index = Int(current)
            if flags[index].isListed { listedCount -= 1 }
            if flags[index].kind != .directory { inodeTable.remove(current, inodes: inode) }
            forgetInode(of: current, change: &change)
            symlinks.remove(current)
            checksums[current] = nil
            garbageNameBytes += Int(nameLength[index])
            flags[index] = NodeFlags(kind: .file, access: .open, isListed: false, inUse: false)
            freeNodes.append(current)
        }
    }

    /// Unlinking one name changes the ctime of the others.
    private mutating func forgetInode(of node: NodeID, change: inout DirectoryChange) {
        guard let key = inodeOfNode.removeValue(forKey: node)?.key else { return }
        change.linkedInodes.insert(key.inode)
        inodeNames[key]?.removeAll { $0 == node }
        if let others = inodeNames[key], !others.isEmpty {
            change.linksToRecheck.append(contentsOf: others)
        } else {
            inodeNames[key] = nil
        }
    }

    private func digestsByName(_ scanned: ScannedDirectory) -> [[UInt8]: [ChecksumAlgorithm: String]] {
        guard !scanned.checksums.isEmpty else { return [:] }
        let prefixLength = scanned.path.isEmpty ? 0 : scanned.path.count + 1
        var result: [[UInt8]: [ChecksumAlgorithm: String]] = [:]
        for checksum in scanned.checksums { result[Array(checksum.path[prefixLength...])] = checksum.hex }
        return result
    }

    /// Returns whether the digests changed.
    private mutating func setDigests(_ digests: [ChecksumAlgorithm: String]?, for node: NodeID) -> Bool {
        guard checksums[node] != digests else { return false }
        checksums[node] = digests
        blockChanges.checksums = true
        return true
    }

    /// Renames and removals leave dead name bytes in the arena; rebuild it once they are
    /// half of it, so a long-running daemon does not grow without bound.
    private mutating func compactNamesIfNeeded() {
        guard garbageNameBytes > 1 << 20, garbageNameBytes * 2 > names.count else { return }
        var compacted: [UInt8] = []
        compacted.reserveCapacity(names.count - garbageNameBytes)
        for index in 1..<parent.count where flags[index].inUse {
            let start = Int(nameStart[index])
            nameStart[index] = UInt32(compacted.count)
            compacted.append(contentsOf: names[start..<(start + Int(nameLength[index]))])
        }
        names = compacted
        garbageNameBytes = 0
    }
}
