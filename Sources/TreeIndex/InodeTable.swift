/// Node ids by inode number: which names of the index hold a given inode, in constant
/// time. An event may name a file only by its inode (a link count change) or name a
/// name the index never saw (a hard link made and removed between two reads of its
/// directory); the inode leads to the names the index has.
///
/// Open addressing with linear probing over 4-byte node ids; the key is read from the
/// node table (`inode`), so the table holds nothing but ids. Deleting shifts the
/// following entries back, so a probe never meets a tombstone.
struct InodeTable {
    private static let empty = UInt32.max
    private var slots: [UInt32] = Array(repeating: InodeTable.empty, count: 64)
    private(set) var count = 0

    private var mask: Int { slots.count - 1 }

    private static func hash(_ inode: UInt32) -> Int {
        // Inode numbers come in runs; a multiplicative hash spreads them over the table.
        Int(truncatingIfNeeded: (UInt64(inode) &* 0x9E37_79B9_7F4A_7C15) >> 32)
    }

    /// Adds `node`, whose inode is `inodes[node]`.
    mutating func insert(_ node: UInt32, inodes: [UInt32]) {
        if (count + 1) * 5 > slots.count * 4 { grow(inodes: inodes) }
        var slot = Self.hash(inodes[Int(node)]) & mask
        while slots[slot] != Self.empty { slot = (slot + 1) & mask }
        slots[slot] = node
        count += 1
    }

    /// Removes `node`, whose inode is still `inodes[node]`.
    mutating func remove(_ node: UInt32, inodes: [UInt32]) {
        var slot = Self.hash(inodes[Int(node)]) & mask
        while slots[slot] != node {
            guard slots[slot] != Self.empty else { return }
            slot = (slot + 1) & mask
        }
        // Shift back every following entry that may no longer be found past the hole.
        var hole = slot
        var next = (hole + 1) & mask
        while slots[next] != Self.empty {
            let home = Self.hash(inodes[Int(slots[next])]) & mask
            // The entry at `next` can fill the hole unless its home lies cyclically in (hole, next].
            let movable = hole <= next ? (home <= hole || home > next) : (home <= hole && home > next)
            if movable {
                slots[hole] = slots[next]
                hole = next
            }
            next = (next + 1) & mask
        }
        slots[hole] = Self.empty
        count -= 1
    }

    /// Every node whose inode is `inode`.
    func nodes(with inode: UInt32, inodes: [UInt32]) -> [UInt32] {
        var found: [UInt32] = []
        var slot = Self.hash(inode) & mask
        while slots[slot] != Self.empty {
            if inodes[Int(slots[slot])] == inode { found.append(slots[slot]) }
            slot = (slot + 1) & mask
        }
        return found
    }

    private mutating func grow(inodes: [UInt32]) {
        let old = slots
        slots = Array(repeating: Self.empty, count: old.count * 2)
        for node in old where node != Self.empty {
            var slot = Self.hash(inodes[Int(node)]) & mask
            while slots[slot] != Self.empty { slot = (slot + 1) & mask }
            slots[slot] = node
        }
    }

    /// Bytes held, for the memory figures.
    var byteCount: Int { slots.count * 4 }
}
