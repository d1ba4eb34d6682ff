import FileList
import TreeScan

/// The in-memory index of a tree: what the daemon renders its list from.
///
/// Sized for ten million entries: a struct-of-arrays node table indexed by 32-bit node
/// ids, names in one byte arena, no per-node object, String or Dictionary. Children of
/// a directory are kept sorted by name bytes, so rendering is an in-order walk and gives
/// the same bytes as `create-filelist`.
///
/// There is one mutation, `replaceChildren(of:with:)`: the initial scan and every rescan
/// a watcher asks for hand over a freshly read directory, and the index merges it with
/// what it had. The index does not know where a change came from.
public struct TreeIndex: ~Copyable {
    public typealias NodeID = UInt32
    public static let root: NodeID = 0

    // The node table. A removed node's slot goes on `freeNodes` for reuse.
    var parent: [NodeID] = [0]
    var nameStart: [UInt32] = [0]
    /// A name is at most 255 bytes (NAME_MAX, which the kernel holds every file system to).
    var nameLength: [UInt8] = [0]
    var flags: [NodeFlags] = [NodeFlags(kind: .directory, access: .open, isListed: true, inUse: true)]
    var size = NarrowColumn(0)
    var time = NarrowColumn(0)
    /// The low 32 bits of every node's inode number: when a file gains a second name, its
    /// first name was indexed as a single link, and only a search by inode finds it. Two
    /// inodes that share the low bits cost one needless re-read of a directory, never a
    /// wrong line; the full number of a hard-linked file is in `inodeOfNode`.
    var inode: [UInt32] = [0]
    /// Every file (not directory) node, by `inode`.
    var inodeTable = InodeTable()
    var names: [UInt8] = []
    var garbageNameBytes = 0
    var freeNodes: [NodeID] = []

    /// Sorted children of every directory that has any.
    var children: [NodeID: [NodeID]] = [:]
    /// Names of an inode with more than one link: a new link, an unlink or a chmod
    /// through one name changes the ctime of every other, and the kernel reports only one.
    var inodeNames: [InodeKey: [NodeID]] = [:]
    var inodeOfNode: [NodeID: LinkedName] = [:]
    /// Every symlink, listed or not: its line depends on its target, which sends no event.
    public internal(set) var symlinks: Set<NodeID> = []
    var checksums: [NodeID: [ChecksumAlgorithm: String]] = [:]

    /// Directories whose blocks of lines changed since the lists were last published.
    var blockChanges = BlockChanges()
    /// Whether a segment of a list may end after each directory's block (`ListSegmentRule`
    /// on its path), worked out once per directory.
    var segmentEnds = SegmentEnds()

    public internal(set) var listedCount = 0
    /// The lines changed since the list was last published; nil until a publisher starts it.
    var journal: ListJournal?

    public init() {}

    /// Entries in the list (the root is not listed).
    public var count: Int { listedCount }

    // MARK: Lookup

    /// The node at a relative path (empty for the root), if indexed.
    public func node(at path: [UInt8]) -> NodeID? {
        var current = Self.root
        var start = 0
        while start < path.count {
            let end = path[start...].firstIndex(of: 0x2F) ?? path.count
            let found = path.withUnsafeBufferPointer { buffer in
                childNamed(UnsafeBufferPointer(rebasing: buffer[start..<end]), in: current)
            }
            guard let found else { return nil }
            current = found
            start = end + 1
        }
        return current
    }

    public func path(of node: NodeID) -> [UInt8] {
        var components: [NodeID] = []
        var current = node
        while current != Self.root {
            components.append(current)
            current = parent[Int(current)]
        }
        var result: [UInt8] = []
        for component in components.reversed() {
            if !result.isEmpty { result.append(0x2F) }
            result.append(contentsOf: name(of: component))
        }
        return result
    }

    public func name(of node: NodeID) -> ArraySlice<UInt8> {
        let start = Int(nameStart[Int(node)])
        return names[start..<(start + Int(nameLength[Int(node)]))]
    }

    public func isDirectory(_ node: NodeID) -> Bool { flags[Int(node)].kind == .directory }

    /// Whether the node is still in the tree: names a merge reported (`linksToRecheck`)
    /// may have been removed by a later step of the same read.
    public func isInUse(_ node: NodeID) -> Bool { flags[Int(node)].inUse }

    /// True when a directory above the children of `node` (itself included, the root
    /// not) is not world-readable, so world-readable children get `*`.
    public func childrenAreUnderRestrictedDirectory(_ node: NodeID) -> Bool {
        var current = node
        while current != Self.root {
            if flags[Int(current)].access == .notWorldReadable { return true }
            current = parent[Int(current)]
        }
        return false
    }

    /// True when `node` or a directory above it is not group-readable: its children are
    /// kept (`ScanOptions.keepHiddenEntries`) but never listed.
    public func childrenAreHidden(_ node: NodeID) -> Bool {
        var current = node
        while current != Self.root {
            if !flags[Int(current)].isListed { return true }
            current = parent[Int(current)]
        }
        return false
    }

    /// The other names of a hard-linked node's inode.
    public func otherLinks(of node: NodeID) -> [NodeID] {
        guard let key = inodeOfNode[node]?.key else { return [] }
        return (inodeNames[key] ?? []).filter { $0 != node }
    }

    /// Whether two names of one inode show the same inode: time, size and mode are the
    /// inode's, so names that differ were not all read after its last change.
    func agree(_ a: NodeID, _ b: NodeID) -> Bool {
        time[Int(a)] == time[Int(b)] && size[Int(a)] == size[Int(b)] && inodeOfNode[a]?.mode == inodeOfNode[b]?.mode
    }

    /// Names of hard-linked inodes that the index cannot vouch for after a scan that read
    /// directories one at a time while the tree changed: names of one inode that disagree
    /// (one was read before a change made through another), and names indexed as single
    /// links whose inode has other names now (read before the inode's first new link).
    public func unsettledLinks() -> [NodeID] {
        var names: [NodeID] = []
        for (key, group) in inodeNames {
            if let first = group.first, group.contains(where: { !agree($0, first) }) { names += group }
            names += nodes(withInode: key.inode).filter { inodeOfNode[$0] == nil }
        }
        return names
    }

    func childNamed(_ name: UnsafeBufferPointer<UInt8>, in directory: NodeID) -> NodeID? {
        guard let list = children[directory] else { return nil }
        var low = 0
        var high = list.count
        while low < high {
            let middle = (low + high) / 2
            let order = compareName(of: list[middle], with: name)
            if order == 0 { return list[middle] }
            if order < 0 { low = middle + 1 } else { high = middle }
        }
        return nil
    }

    func compareName(of node: NodeID, with other: UnsafeBufferPointer<UInt8>) -> Int {
        names.withUnsafeBufferPointer { arena in
            let mine = UnsafeBufferPointer(
                rebasing: arena[Int(nameStart[Int(node)])..<(Int(nameStart[Int(node)]) + Int(nameLength[Int(node)]))])
            return NameOrder.compare(mine, other)
        }
    }
}

/// Byte order of names, the order children are kept and listed in.
enum NameOrder {
    static func compare(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Int {
        let common = min(a.count, b.count)
        if common > 0 {
            let order = memcmp(a.baseAddress!, b.baseAddress!, common)
            if order != 0 { return Int(order) }
        }
        return a.count - b.count
    }
}

/// Device and inode number: the identity of a file across its hard links.
struct InodeKey: Hashable {
    var device: UInt64
    var inode: UInt64
}

/// What the index keeps of a name whose inode has several links: the inode, and the
/// inode's attributes that the node table does not hold (only such names pay for them).
struct LinkedName {
    var key: InodeKey
    var mode: UInt32
    var linkCount: UInt32
}

/// One byte per node: kind, access suffix, whether it has a line, whether the slot is used.
struct NodeFlags {
    var raw: UInt8

    init(kind: EntryKind, access: EntryAccess, isListed: Bool, inUse: Bool) {
        let kindBits: UInt8 =
            switch kind {
            case .file: 0
            case .directory: 1
            case .symlink: 2
            }
        let accessBits: UInt8 =
            switch access {
            case .open: 0
            case .restrictedSubtree: 1
            case .notWorldReadable: 2
            }
        raw = kindBits | accessBits << 2 | (isListed ? 0x10 : 0) | (inUse ? 0x20 : 0)
    }

    var kind: EntryKind {
        switch raw & 0x3 {
        case 1: .directory
        case 2: .symlink
        default: .file
        }
    }

    var access: EntryAccess {
        switch raw >> 2 & 0x3 {
        case 1: .restrictedSubtree
        case 2: .notWorldReadable
        default: .open
        }
    }

    var isListed: Bool { raw & 0x10 != 0 }
    var inUse: Bool { raw & 0x20 != 0 }
}

#if canImport(Glibc)
    import Glibc
#endif

extension TreeIndex {
    public func parentOf(_ node: NodeID) -> NodeID { parent[Int(node)] }

    /// The file nodes holding this inode number (and, rarely, another whose low 32 bits
    /// are the same).
    public func nodes(withInode wanted: UInt64) -> [NodeID] {
        inodeTable.nodes(with: UInt32(truncatingIfNeeded: wanted), inodes: inode)
    }

    /// The file nodes holding any of these inode numbers.
    public func nodes(withInodes wanted: Set<UInt64>) -> [NodeID] { wanted.flatMap { nodes(withInode: $0) } }
}
