/// What changed between two lists, by path.
///
/// Paths are compared as bytes. Lists of a million entries are matched by sorting
/// 64-bit path hashes, not through a Dictionary of byte arrays: a fraction of the time
/// and of the memory.
public struct FileListDiff: Sendable {
    /// Indexes into the new list: entries that are new or whose time, type or size changed.
    public var addedOrChanged: [Int] = []
    /// Indexes into the old list: entries that are gone from the new one.
    public var removed: [Int] = []

    /// `comparingTimes: false` compares kind and size only: a local tree's ctimes are its
    /// own and never match the upstream list's.
    public init(old: [FileListEntry], new: [FileListEntry], comparingTimes: Bool = true) {
        let oldKeys = Self.sortedKeys(old)
        let newKeys = Self.sortedKeys(new)
        var matchedOld = [Bool](repeating: false, count: old.count)
        var o = 0
        for (hash, newIndex) in newKeys {
            while o < oldKeys.count && oldKeys[o].hash < hash { o += 1 }
            // Equal hashes: look through the run for the same path bytes.
            var candidate = o
            var found: Int?
            while candidate < oldKeys.count && oldKeys[candidate].hash == hash {
                let oldIndex = oldKeys[candidate].index
                if !matchedOld[oldIndex] && old[oldIndex].path == new[newIndex].path {
                    found = oldIndex
                    break
                }
                candidate += 1
            }
            if let found {
                matchedOld[found] = true
                let before = old[found]
                let after = new[newIndex]
                let timeDiffers = comparingTimes && before.time != after.time
                let sizeDiffers = before.size != after.size && after.type.kind == .file
                if timeDiffers || sizeDiffers || before.type.kind != after.type.kind
                    || (comparingTimes && before.type != after.type)
                {
                    addedOrChanged.append(newIndex)
                }
            } else {
                addedOrChanged.append(newIndex)
            }
        }
        for index in old.indices where !matchedOld[index] { removed.append(index) }
        addedOrChanged.sort()
    }

    static func sortedKeys(_ entries: [FileListEntry]) -> [(hash: UInt64, index: Int)] {
        var keys = entries.indices.map { (hash: PathHash.of(entries[$0].path), index: $0) }
        keys.sort { $0.hash < $1.hash }
        return keys
    }
}

/// FNV-1a over path bytes: fast, and good enough to sort by (ties compare the bytes).
enum PathHash {
    static func of(_ bytes: [UInt8]) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        return hash
    }
}
