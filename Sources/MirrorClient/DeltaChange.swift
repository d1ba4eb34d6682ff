import FileList
import LinuxCalls
import ListProtocol
import ListTransport
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// A module's list that came as a delta applied where the installed list lies: what a
/// run plans from, read from the delta's splices and the installed list's record alone.
///
/// The plan is the one walking the two whole lists would give (`InStepDiff`): the
/// splices' new `[Files]` lines are the entries added or changed, their old lines whose
/// path no new line has are the removed ones. The new list also holds the recorded
/// recent lines the delta left alone, so that the planner's rule for entries newer than
/// the last run (fetched again whatever changed) sees every entry it applies to; the
/// checksum sections come whole, from the delta or the installed list.
struct DeltaChange {
    /// What the planner is given: `new` holds the changed and recent lines only.
    var lists: ModuleLists
    /// `[Files]` lines in the whole new list.
    var entries: Int

    init(
        _ applied: AppliedDelta, installed: String, record: InstalledListRecord, module: String, directory: String,
        source: String
    ) throws {
        let descriptor = try Linux.openat(nil, installed, flags: O_RDONLY)
        defer { try? descriptor.close() }
        let size = Int(try Linux.fstat(descriptor, displayPath: installed).st_size)
        let map = try MappedFile(descriptor, size: size, displayPath: installed)
        let old = map.bytes.bindMemory(to: UInt8.self)
        let section = applied.files
        var head = Array(old[0..<section.start])
        var tail = Array(old[section.end..<size])
        var oldLines: [UInt8] = []
        var newLines: [UInt8] = []
        for splice in applied.splices {
            if splice.range == 0..<section.start {
                head = splice.bytes
            } else if splice.range == section.end..<size && section.end < size {
                tail = splice.bytes
            } else {
                oldLines += old[splice.range]
                newLines += splice.bytes
            }
        }
        // An old line's own bytes are enough to read it: the parser is given the head
        // and tail around it, as a whole list.
        let replaced = try CompactFileList(validating: head + oldLines + tail, source: installed)
        var replacedPaths = Set<ArraySlice<UInt8>>()
        for index in 0..<replaced.count { replacedPaths.insert(replaced.path(index)) }
        // The changed lines and the recent ones the delta left alone, in the list's own
        // order, so that the plan lists its paths as reading the whole list would.
        var lines = newLines.split(separator: 0x0A).map { (line: $0, changed: true) }
        let changedCount = lines.count
        for line in record.recentLines.split(separator: 0x0A) where !replacedPaths.contains(Self.path(ofLine: line)) {
            lines.append((line, false))
        }
        lines.sort { FileListOrder.inOrder(Array(Self.path(ofLine: $0.line)), Array(Self.path(ofLine: $1.line))) }
        var files: [UInt8] = []
        for (line, _) in lines {
            files += line
            files.append(0x0A)
        }
        let new = try CompactFileList(validating: head + files + tail, source: source)
        var diff = InStepDiff()
        var newPaths = Set<ArraySlice<UInt8>>()
        for index in lines.indices where lines[index].changed { newPaths.insert(new.path(index)) }
        // A line the delta replaced by one with the same time, kind and (for a file) size
        // is no change to fetch, as the walk over whole lists counts it.
        var oldFingerprints: [ArraySlice<UInt8>: UInt64] = [:]
        for index in 0..<replaced.count {
            oldFingerprints[replaced.path(index)] = KeyedIndex.fingerprint(
                replaced.time(index), replaced.size(index), replaced.type(index), comparingTimes: true)
        }
        diff.addedOrChanged = lines.indices.filter { index in
            lines[index].changed
                && oldFingerprints[new.path(index)]
                    != KeyedIndex.fingerprint(new.time(index), new.size(index), new.type(index), comparingTimes: true)
        }
        diff.oldCount = record.entries
        for index in 0..<replaced.count where !newPaths.contains(replaced.path(index)) {
            diff.removed.append((replaced.type(index), Array(replaced.path(index))))
        }
        lists = ModuleLists(
            module: module, directory: directory, new: new, old: nil, oldFile: installed, inStep: diff)
        entries = record.entries - replaced.count + changedCount
        withExtendedLifetime(map) {}
    }

    /// A `[Files]` line's path: what follows its third TAB.
    static func path(ofLine line: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var tabs = 0
        var index = line.startIndex
        while index < line.endIndex && tabs < 3 {
            if line[index] == 0x09 { tabs += 1 }
            index += 1
        }
        return line[index...]
    }

    /// The new list's lines whose time is at least `since`, from the lines this change
    /// knows (the changed ones and the recent ones it kept): the next run's recent lines.
    func recentLines(since: Int64) -> [UInt8] {
        let new = lists.new
        var lines: [UInt8] = []
        for index in 0..<new.count where new.time(index) >= since { lines += new.line(index) }
        return lines
    }
}

extension InstalledListRecord {
    /// A list's record once it is installed, or nil when it cannot be described.
    static func installed(
        path: String, destination: String, digest: String?, entries: Int, segments: [ListSegment]?,
        recent: (since: Int64, lines: [UInt8])?, delta: [UInt8]?
    ) -> InstalledListRecord? {
        guard let digest, let segments, let identity = identity(of: "\(destination)/\(path)") else { return nil }
        return InstalledListRecord(
            path: path, identity: identity, digest: digest, entries: entries, segments: segments,
            recentSince: recent?.since, recentLines: recent?.lines ?? [], delta: delta)
    }
}
