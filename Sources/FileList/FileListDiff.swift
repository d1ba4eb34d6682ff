/// What changed between two lists, by path.
///
/// Both lists' 128-bit path keys are sorted and merged: a million lines match in a
/// fraction of a second, with no Dictionary of byte arrays and no byte comparisons.
public struct FileListDiff: Sendable {
    /// Indexes into the new list: entries that are new or whose time, type or size changed.
    public var addedOrChanged: [Int] = []
    /// Indexes into the old list: entries that are gone from the new one.
    public var removed: [Int] = []

    /// `comparingTimes: false` compares kind and size only: a local tree's ctimes are its
    /// own and never match the upstream list's.
    public init(old: some DiffableList, new: some DiffableList, comparingTimes: Bool = true) {
        let oldKeys = old.keysSortedByPath(comparingTimes: comparingTimes)
        let newKeys = new.keysSortedByPath(comparingTimes: comparingTimes)
        var o = 0
        var n = 0
        while o < oldKeys.count || n < newKeys.count {
            if n == newKeys.count || (o < oldKeys.count && oldKeys[o].key < newKeys[n].key) {
                removed.append(Int(oldKeys[o].index))
                o += 1
            } else if o == oldKeys.count || newKeys[n].key < oldKeys[o].key {
                addedOrChanged.append(Int(newKeys[n].index))
                n += 1
            } else {
                if oldKeys[o].fingerprint != newKeys[n].fingerprint { addedOrChanged.append(Int(newKeys[n].index)) }
                o += 1
                n += 1
            }
        }
        addedOrChanged.sort()
        removed.sort()
    }
}
