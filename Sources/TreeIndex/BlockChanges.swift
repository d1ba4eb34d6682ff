/// Which directories' blocks of lines changed since the lists were last published: a
/// segment whose blocks are all unchanged is the same bytes as before, and its publisher
/// reuses them. One bit per node id for each list the index renders; the bits of a
/// directory are set by every mutation of its children.
struct BlockChanges {
    /// Blocks of the time list (any line: time, type, size, a name added or gone).
    private(set) var times = NodeBits()
    /// Blocks of the path lists (a name added, gone, listed or hidden).
    private(set) var paths = NodeBits()
    /// Whether the image list may have changed (an image file, or a directory that may
    /// hold some, added, removed, listed or hidden).
    var images = false
    /// Whether a checksum changed: the time list's trailer, which no block holds (a
    /// `repomd.xml` rewritten in the same second at the same size changes nothing else).
    var checksums = false

    mutating func lineChanged(in directory: TreeIndex.NodeID) { times.insert(directory) }

    mutating func nameChanged(in directory: TreeIndex.NodeID) {
        times.insert(directory)
        paths.insert(directory)
    }

    var pathsChanged: Bool { !paths.isEmpty }
    var isEmpty: Bool { times.isEmpty && paths.isEmpty && !images && !checksums }

    mutating func removeAll() {
        times.removeAll()
        paths.removeAll()
        images = false
        checksums = false
    }
}

/// A set of node ids as one bit each: 1.5 MB at 12 million nodes, tested in one load.
struct NodeBits {
    private var words: [UInt64] = []
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    mutating func insert(_ node: TreeIndex.NodeID) {
        let word = Int(node >> 6)
        if word >= words.count { words += repeatElement(0, count: max(word + 1 - words.count, words.count / 2 + 1)) }
        let bit = UInt64(1) << UInt64(node & 63)
        if words[word] & bit == 0 {
            words[word] |= bit
            count += 1
        }
    }

    func contains(_ node: TreeIndex.NodeID) -> Bool {
        let word = Int(node >> 6)
        return word < words.count && words[word] & (UInt64(1) << UInt64(node & 63)) != 0
    }

    mutating func remove(_ node: TreeIndex.NodeID) {
        let word = Int(node >> 6)
        guard word < words.count else { return }
        let bit = UInt64(1) << UInt64(node & 63)
        if words[word] & bit != 0 {
            words[word] &= ~bit
            count -= 1
        }
    }

    mutating func removeAll() {
        guard count > 0 else { return }
        for index in words.indices { words[index] = 0 }
        count = 0
    }

    var byteCount: Int { words.count * 8 }
}
