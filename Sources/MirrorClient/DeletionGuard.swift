/// When a run refuses to delete: only when it would delete both more than `maxShare` of
/// the entries the mirror holds *and* more than `minimumCount` entries.
///
/// The share alone protected large trees (an upstream that lost a subtree, a list cut
/// short by a bug upstream) but refused ordinary work on small modules: a module of 634
/// entries that drops an old release of 127 is 20%. The count alone would let a small
/// mirror be emptied. Together: a small module may change as much as it likes up to
/// 1,000 deletions (never more than a few minutes of rsync to undo), and a large tree may
/// lose up to 10% in one run (Fedora's largest daily deletions are well under 1%).
public struct DeletionGuard: Sendable {
    public var maxShare = 0.1
    public var minimumCount = 1000
    /// `--allow-mass-delete`.
    public var disabled = false

    public init() {}

    /// Why a run deleting `count` of `entries` must not go on, or nil when it may.
    public func refusal(deleting count: Int, of entries: Int) -> String? {
        guard !disabled, count > minimumCount, entries > 0 else { return nil }
        let share = Double(count) / Double(entries)
        guard share > maxShare else { return nil }
        return "refusing to delete \(count) of \(entries) entries (\(Int(share * 100))%, more than "
            + "\(Int(maxShare * 100))% and more than \(minimumCount)): check upstream, or run with "
            + "--allow-mass-delete; nothing was changed"
    }
}
