import FileList
import Foundation

/// One module's lists for a run: the new one just fetched, the one installed by the
/// last successful run (nil on a first sync).
public struct ModuleLists: Sendable {
    public var module: String
    /// The module's directory, below the master module and below the destination.
    public var directory: String
    public var new: FileList
    public var old: FileList?

    public init(module: String, directory: String, new: FileList, old: FileList?) {
        self.module = module
        self.directory = directory
        self.new = new
        self.old = old
    }
}

/// What one run will do. Paths are relative to the master module (and so to the
/// destination): `<module directory>/<path in the list>`.
public struct TransferPlan: Sendable {
    public var transfers: [[UInt8]] = []
    /// Deepest first, so a directory comes after everything in it.
    public var deletions: [[UInt8]] = []
    /// Entries the mirror holds now (the old lists, or the local scan with -a), for
    /// the mass-deletion guard.
    public var localEntries = 0
    /// SHA1 digests to verify after the transfer.
    public var checksums: [(path: [UInt8], hex: String)] = []

    /// The share of the local tree a run would delete.
    public var deletionShare: Double { localEntries == 0 ? 0 : Double(deletions.count) / Double(localEntries) }
}

/// Decides what to fetch and what to delete from the old and new lists.
public struct TransferPlanner {
    public var preBitflip = false
    public var filter: NSRegularExpression?
    /// Entries at least this recent are transferred whatever the old list says (the
    /// last successful run's start, minus any backdate).
    public var since: Int64?

    /// Paths (relative to the destination) that are never deleted: the installed lists
    /// and EXTRAFILES, which no list describes.
    public var keep: Set<[UInt8]> = []

    public init(preBitflip: Bool = false, filter: NSRegularExpression? = nil, since: Int64? = nil) {
        self.preBitflip = preBitflip
        self.filter = filter
        self.since = since
    }

    /// `local`, when given (`-a`), is what the destination holds for each module,
    /// relative to the module directory; otherwise the old list stands for it.
    public func plan(_ modules: [ModuleLists], local: [String: [FileListEntry]] = [:]) -> TransferPlan {
        var plan = TransferPlan()
        for module in modules {
            let prefix = Array(module.directory.utf8) + [0x2F]
            let new = module.new.entries
            var wanted = [Bool](repeating: false, count: new.count)
            if let old = module.old?.entries {
                let diff = FileListDiff(old: old, new: new)
                for index in diff.addedOrChanged { wanted[index] = true }
                for index in diff.removed where isMirrored(old[index], prefix: prefix) {
                    plan.deletions.append(prefix + old[index].path)
                }
                plan.localEntries += old.count
            } else {
                wanted = [Bool](repeating: true, count: new.count)
            }
            if let since {
                for index in new.indices where new[index].time >= since { wanted[index] = true }
            }
            if let present = local[module.module] {
                // -a: compare with what is really there, by path, size and kind.
                let diff = FileListDiff(old: present, new: new, comparingTimes: false)
                for index in diff.addedOrChanged where new[index].type.kind != .directory { wanted[index] = true }
                for index in diff.removed where isMirrored(present[index], prefix: prefix) {
                    plan.deletions.append(prefix + present[index].path)
                }
                plan.localEntries = max(plan.localEntries, present.count)
            }
            for index in new.indices where wanted[index] && isMirrored(new[index], prefix: prefix) {
                plan.transfers.append(prefix + new[index].path)
            }
            if let sha1 = module.new.checksums[.sha1] {
                for line in sha1 { plan.checksums.append((prefix + line.path, line.hex)) }
            }
        }
        // Deepest first; then by path, so the order is stable.
        let unique = Set(plan.deletions).subtracting(keep)
        plan.deletions = unique.sorted { a, b in
            let depthA = a.lazy.filter { $0 == 0x2F }.count
            let depthB = b.lazy.filter { $0 == 0x2F }.count
            return depthA != depthB ? depthA > depthB : a.lexicographicallyPrecedes(b)
        }
        return plan
    }

    /// Restricted entries only with PREBITFLIP; FILTEREXP matches are left alone both ways.
    func isMirrored(_ entry: FileListEntry, prefix: [UInt8]) -> Bool {
        if entry.type.isRestricted && !preBitflip { return false }
        if let filter {
            let path = String(decoding: prefix + entry.path, as: UTF8.self)
            if filter.firstMatch(in: path, range: NSRange(path.startIndex..., in: path)) != nil { return false }
        }
        return true
    }
}
