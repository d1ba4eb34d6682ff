import FileList
import Foundation

/// One module's lists for a run: the new one just fetched, the one installed by the
/// last successful run (nil on a first sync).
public struct ModuleLists: Sendable {
    public var module: String
    /// The module's directory, below the master module and below the destination.
    public var directory: String
    public var new: CompactFileList
    public var old: CompactFileList?
    /// Where the old list was read from, when it was parsed without keeping its bytes:
    /// the few paths a plan deletes are read from it again.
    public var oldFile: String?
    /// What changed since the old list, found by walking both lists in step (`ListPair`).
    /// When set, it stands for `old`.
    public var inStep: InStepDiff?

    public init(
        module: String, directory: String, new: CompactFileList, old: CompactFileList?, oldFile: String? = nil,
        inStep: InStepDiff? = nil
    ) {
        self.module = module
        self.directory = directory
        self.new = new
        self.old = old
        self.oldFile = oldFile
        self.inStep = inStep
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
            let new = module.new
            var wanted = [Bool](repeating: false, count: new.count)
            var removed: [[UInt8]] = []
            if let diff = module.inStep {
                for index in diff.addedOrChanged { wanted[index] = true }
                for line in diff.removed where isMirrored(line.type, prefix: prefix, path: line.path[...]) {
                    removed.append(line.path)
                }
                plan.localEntries += diff.oldCount
            } else if let old = module.old {
                let diff = FileListDiff(old: old, new: new)
                for index in diff.addedOrChanged { wanted[index] = true }
                let removedLines: [(type: EntryType, path: [UInt8])]
                if !old.bytes.isEmpty {
                    removedLines = diff.removed.map { (old.type($0), Array(old.path($0))) }
                } else if !diff.removed.isEmpty, let file = module.oldFile, let pieces = ListFile.pieces(file) {
                    removedLines = CompactFileList.lines(at: diff.removed, reading: pieces)
                } else {
                    // Without the old paths nothing can be deleted safely; the next run will.
                    removedLines = []
                }
                for line in removedLines where isMirrored(line.type, prefix: prefix, path: line.path[...]) {
                    removed.append(line.path)
                }
                plan.localEntries += old.count
            } else {
                wanted = [Bool](repeating: true, count: new.count)
            }
            let listed = Self.stillListed(removed, in: new)
            for path in removed where !listed.contains(path.withUnsafeBufferPointer { PathKey($0) }) {
                plan.deletions.append(prefix + path)
            }
            if let since {
                for index in 0..<new.count where new.time(index) >= since { wanted[index] = true }
            }
            if let present = local[module.module] {
                // -a: compare with what is really there, by path, size and kind.
                let diff = FileListDiff(old: present, new: new, comparingTimes: false)
                for index in diff.addedOrChanged where new.type(index).kind != .directory { wanted[index] = true }
                for index in diff.removed
                where isMirrored(present[index].type, prefix: prefix, path: present[index].path[...]) {
                    plan.deletions.append(prefix + present[index].path)
                }
                plan.localEntries = max(plan.localEntries, present.count)
            }
            for index in 0..<new.count
            where wanted[index] && isMirrored(new.type(index), prefix: prefix, path: new.path(index)) {
                plan.transfers.append(prefix + new.path(index))
            }
            if let sha1 = module.new.checksums[.sha1] {
                // A path FILTEREXP leaves out is neither fetched nor checked (-a would
                // otherwise fetch it again as a checksum mismatch).
                for line in sha1 where passesFilter(prefix: prefix, path: line.path[...]) {
                    plan.checksums.append((prefix + line.path, line.hex))
                }
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

    /// Which of `removed` the new list still names. An old list naming a path twice
    /// leaves one of its lines unmatched; that must not delete a file the new list
    /// keeps. One pass over the new list's paths, only when something is to be deleted.
    static func stillListed(_ removed: [[UInt8]], in new: CompactFileList) -> Set<PathKey> {
        guard !removed.isEmpty else { return [] }
        let candidates = Set(removed.map { path in path.withUnsafeBufferPointer { PathKey($0) } })
        var listed: Set<PathKey> = []
        for index in 0..<new.count {
            let key = new.path(index).withUnsafeBufferPointer { PathKey($0) }
            if candidates.contains(key) { listed.insert(key) }
        }
        return listed
    }

    /// Restricted entries only with PREBITFLIP; FILTEREXP matches are left alone both ways.
    func isMirrored(_ type: EntryType, prefix: [UInt8], path: ArraySlice<UInt8>) -> Bool {
        if type.isRestricted && !preBitflip { return false }
        return passesFilter(prefix: prefix, path: path)
    }

    func passesFilter(prefix: [UInt8], path: ArraySlice<UInt8>) -> Bool {
        guard let filter else { return true }
        let path = String(decoding: prefix + path, as: UTF8.self)
        return filter.firstMatch(in: path, range: NSRange(path.startIndex..., in: path)) == nil
    }
}
