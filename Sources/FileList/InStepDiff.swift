#if canImport(Glibc)
    import Glibc
#endif

/// What changed between the old list and a new one, found by walking both in step.
///
/// A new list usually repeats the old one line for line, in the same order, except for
/// a few thousand lines. Runs of identical bytes are found with `memcmp`, so identical
/// lines are neither parsed again nor hashed (the new list was validated as a whole
/// already; an old line identical to a valid new one is valid). Only lines that differ
/// are parsed and matched by path key. Matching follows `FileListDiff` exactly: the
/// k-th old line with a path pairs with the k-th new line with that path, wherever they
/// are, so the result is the same for lists in any order; only the cost differs. When
/// the lists diverge too far for that to pay (more than `divergenceLimit` lines
/// waiting for a partner), the walk gives up and the caller matches by sorted keys.
///
/// The old list is read through a window (`StreamedLines`), and as strictly as a whole
/// list is: if any of it would be refused, the outcome says so, as parsing it would.
public struct InStepDiff: Sendable {
    /// Indexes into the new list, ascending: entries that are new or whose time, type
    /// or (for a file) size changed.
    public var addedOrChanged: [Int] = []
    /// The old list's entries that are gone from the new one.
    public var removed: [(type: EntryType, path: [UInt8])] = []
    /// Lines in the old list's `[Files]` section.
    public var oldCount = 0

    public init() {}

    public enum Outcome: Sendable {
        case compared(InStepDiff)
        /// The old list would not parse (or could not be read): it must not be used.
        case oldUnusable
        /// Too many lines waited for a partner; match by sorted keys instead.
        case diverged
    }

    /// `new` must have its bytes and records (`init(validating:)` or `init(parsing:)`);
    /// `read` reads the old list from its start (see `StreamedLines`).
    public static func compare(
        new: CompactFileList, oldReading read: @escaping (UnsafeMutableRawBufferPointer) -> Int,
        divergenceLimit: Int? = nil
    ) -> Outcome {
        compare(new: new, oldReading: read, divergenceLimit: divergenceLimit, windowSize: 1 << 20)
    }

    /// Tests make the window small, to cross its edges often.
    static func compare(
        new: CompactFileList, oldReading read: @escaping (UnsafeMutableRawBufferPointer) -> Int,
        divergenceLimit: Int?, windowSize: Int
    ) -> Outcome {
        precondition(new.count == 0 || !new.bytes.isEmpty, "the new list's bytes are needed")
        var old = StreamedLines(capacity: windowSize, read: read)
        defer { old.deallocate() }
        let limit = divergenceLimit ?? max(100_000, new.count / 8)
        return new.bytes.withUnsafeBufferPointer { bytes in
            new.records.withUnsafeBufferPointer { records in
                var walk = InStepWalk(bytes: bytes, records: records, filesStart: new.filesStart, limit: limit)
                return walk.run(&old)
            }
        }
    }
}

/// The walk's state. Lines that differ wait in `pendingNew`/`pendingOld` (first in,
/// first out per path key) until a line with the same path turns up on the other side.
/// Which side moves on is only a matter of cost: the pairing is the same in any order.
private struct InStepWalk {
    let bytes: UnsafeBufferPointer<UInt8>
    let records: UnsafeBufferPointer<CompactFileList.Record>
    let filesStart: Int
    let limit: Int
    var diff = InStepDiff()

    /// A line waiting for a partner. Slots are reused.
    struct Waiting {
        var fingerprint: UInt64
        /// A new line's index.
        var index = 0
        /// An old line's type and path (the window it was read from moves on).
        var type = EntryType(.file)
        var path: [UInt8] = []
        var next = -1
    }
    typealias Queue = (first: Int, last: Int)
    var pendingNew: [PathKey: Queue] = [:]
    var pendingOld: [PathKey: Queue] = [:]
    var slots: [Waiting] = []
    var freeSlots: [Int] = []
    var pendingCount = 0
    /// A bit per key (its top 16 bits) of every path that ever waited. An identical line
    /// whose bit is clear has no partner waiting and pairs with its twin without a
    /// lookup; only a list that repeats a path can make one wait for such a line.
    var waited = [UInt64](repeating: 0, count: 1024)

    /// The old line at the cursor, parsed, until it is taken.
    struct OldLine {
        var view: FileListReader.EntryView
        var fingerprint: UInt64
        var key: PathKey?
    }

    init(
        bytes: UnsafeBufferPointer<UInt8>, records: UnsafeBufferPointer<CompactFileList.Record>, filesStart: Int,
        limit: Int
    ) {
        self.bytes = bytes
        self.records = records
        self.filesStart = filesStart
        self.limit = limit
    }

    mutating func run(_ old: inout StreamedLines) -> InStepDiff.Outcome {
        guard (try? FileListReader.readHeader(&old)) != nil else { return .oldUnusable }
        var n = 0
        var lineStart = filesStart
        // New lines that end before this offset are identical to the old lines in step.
        var identicalEnd = 0
        var oldLine: OldLine?
        var oldEnded = false
        while n < records.count {
            let record = records[n]
            let lineEnd = record.lineEnd
            if lineEnd < identicalEnd {
                old.skip(bytes: lineEnd + 1 - lineStart, lines: 1)
                diff.oldCount += 1
                if pendingCount > 0 { identical(n, record) }
            } else if oldEnded {
                // No old line is left to come: a new line pairs with one that waits, or is new.
                let partner = pendingOld.isEmpty ? nil : take(PathKey(path(record)), old: true)
                if partner?.fingerprint != fingerprint(record) { diff.addedOrChanged.append(n) }
            } else {
                if oldLine == nil {
                    old.fill(atLeast: 64 << 10)
                    let available = old.available
                    let same = Self.commonPrefix(
                        available,
                        UnsafeBufferPointer(rebasing: bytes[lineStart..<min(bytes.count, lineStart + available.count)]))
                    if lineEnd < lineStart + same {
                        identicalEnd = lineStart + same
                        continue
                    }
                    guard let line = old.peek() else { return .oldUnusable }
                    if line.isEmpty {
                        old.take()
                        oldEnded = true
                        continue
                    }
                    guard let parsed = Self.parse(line) else { return .oldUnusable }
                    oldLine = parsed
                }
                let path = path(record)
                let fingerprint = self.fingerprint(record)
                if pendingCount == 0 && path.elementsEqual(oldLine!.view.path) {
                    // The same path, changed in place; nothing waits, so the two pair.
                    if fingerprint != oldLine!.fingerprint { diff.addedOrChanged.append(n) }
                    old.take()
                    oldLine = nil
                    diff.oldCount += 1
                } else {
                    let newKey = PathKey(path)
                    if oldLine!.key == nil { oldLine!.key = PathKey(oldLine!.view.path) }
                    let oldKey = oldLine!.key!
                    if pendingOld[newKey] != nil {
                        // The new line's partner came earlier in the old list: the new
                        // side catches up; the old line is looked at again.
                        newLine(n, newKey, fingerprint)
                    } else if pendingNew[oldKey] != nil {
                        // The other way round: the old side catches up.
                        oldLineTaken(oldLine!, key: oldKey)
                        old.take()
                        oldLine = nil
                        diff.oldCount += 1
                        continue
                    } else {
                        // Neither partner has come yet: both wait (or pair, when the two
                        // share a path while others wait).
                        newLine(n, newKey, fingerprint)
                        oldLineTaken(oldLine!, key: oldKey)
                        old.take()
                        oldLine = nil
                        diff.oldCount += 1
                        if pendingCount > limit { return .diverged }
                    }
                }
            }
            lineStart = lineEnd + 1
            n += 1
        }
        // No new line is left to come: what is left of the old list's [Files] pairs with
        // a new line that waits, or is gone.
        while !oldEnded {
            if oldLine == nil {
                guard let line = old.peek() else { return .oldUnusable }
                if line.isEmpty {
                    old.take()
                    oldEnded = true
                    break
                }
                guard let parsed = Self.parse(line) else { return .oldUnusable }
                oldLine = parsed
            }
            if let partner = pendingNew.isEmpty ? nil : take(oldLine!.key ?? PathKey(oldLine!.view.path), old: false) {
                if partner.fingerprint != oldLine!.fingerprint { diff.addedOrChanged.append(partner.index) }
            } else {
                diff.removed.append((oldLine!.view.type, Array(oldLine!.view.path)))
            }
            diff.oldCount += 1
            old.take()
            oldLine = nil
        }
        guard (try? FileListReader.readTrailer(&old)) != nil, !old.failed else { return .oldUnusable }
        for queue in pendingNew.values {
            var slot = queue.first
            while slot >= 0 {
                diff.addedOrChanged.append(slots[slot].index)
                slot = slots[slot].next
            }
        }
        for queue in pendingOld.values {
            var slot = queue.first
            while slot >= 0 {
                diff.removed.append((slots[slot].type, slots[slot].path))
                slot = slots[slot].next
            }
        }
        diff.addedOrChanged.sort()
        return .compared(diff)
    }

    func path(_ record: CompactFileList.Record) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(rebasing: bytes[Int(record.pathStart)..<record.lineEnd])
    }

    func fingerprint(_ record: CompactFileList.Record) -> UInt64 {
        let (time, size) = record.values(in: bytes)
        return KeyedIndex.fingerprint(time, size, record.type, comparingTimes: true)
    }

    static func parse(_ line: UnsafeBufferPointer<UInt8>) -> OldLine? {
        guard let view = try? FileListReader.parseEntry(line, fail: { FileListError(line: 0, problem: $0) }) else {
            return nil
        }
        return OldLine(
            view: view, fingerprint: KeyedIndex.fingerprint(view.time, view.size, view.type, comparingTimes: true))
    }

    /// A new line identical to the old line in step. It pairs with that line unless a
    /// line with its path already waits on either side: then first in, first out.
    mutating func identical(_ n: Int, _ record: CompactFileList.Record) {
        let path = path(record)
        let key = PathKey(path)
        guard hasWaited(key), pendingNew[key] != nil || pendingOld[key] != nil else { return }
        let fingerprint = self.fingerprint(record)
        let (time, size) = record.values(in: bytes)
        newLine(n, key, fingerprint)
        oldLineTaken(
            OldLine(
                view: .init(time: time, type: record.type, size: size, path: path, pathOffset: 0),
                fingerprint: fingerprint, key: key),
            key: key)
    }

    /// A new line pairs with the first old line of its path that waits, or waits.
    mutating func newLine(_ n: Int, _ key: PathKey, _ fingerprint: UInt64) {
        if let partner = take(key, old: true) {
            if fingerprint != partner.fingerprint { diff.addedOrChanged.append(n) }
        } else {
            wait(key, Waiting(fingerprint: fingerprint, index: n), old: false)
        }
    }

    /// An old line (taken from the list) pairs with the first new line of its path that
    /// waits, or waits.
    mutating func oldLineTaken(_ line: OldLine, key: PathKey) {
        if let partner = take(key, old: false) {
            if line.fingerprint != partner.fingerprint { diff.addedOrChanged.append(partner.index) }
        } else {
            wait(
                key, Waiting(fingerprint: line.fingerprint, type: line.view.type, path: Array(line.view.path)),
                old: true)
        }
    }

    mutating func wait(_ key: PathKey, _ entry: Waiting, old: Bool) {
        let slot: Int
        if let free = freeSlots.popLast() {
            slot = free
            slots[slot] = entry
        } else {
            slot = slots.count
            slots.append(entry)
        }
        let queue = old ? pendingOld[key] : pendingNew[key]
        if let queue { slots[queue.last].next = slot }
        let updated = (queue?.first ?? slot, slot)
        if old { pendingOld[key] = updated } else { pendingNew[key] = updated }
        pendingCount += 1
        let bit = Int(key.high >> 48)
        waited[bit >> 6] |= 1 << UInt64(bit & 63)
    }

    mutating func take(_ key: PathKey, old: Bool) -> Waiting? {
        guard let queue = old ? pendingOld[key] : pendingNew[key] else { return nil }
        let entry = slots[queue.first]
        let updated: Queue? = entry.next < 0 ? nil : (entry.next, queue.last)
        if old { pendingOld[key] = updated } else { pendingNew[key] = updated }
        slots[queue.first].path = []
        freeSlots.append(queue.first)
        pendingCount -= 1
        return entry
    }

    func hasWaited(_ key: PathKey) -> Bool {
        let bit = Int(key.high >> 48)
        return waited[bit >> 6] & (1 << UInt64(bit & 63)) != 0
    }

    /// The length of the longest common prefix: `memcmp` on blocks, then words, then bytes.
    static func commonPrefix(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Int {
        let count = min(a.count, b.count)
        guard count > 0 else { return 0 }
        let x = a.baseAddress!
        let y = b.baseAddress!
        var offset = 0
        let block = 256
        while offset + block <= count && memcmp(x + offset, y + offset, block) == 0 { offset += block }
        while offset + 8 <= count
            && UnsafeRawPointer(x + offset).loadUnaligned(as: UInt64.self)
                == UnsafeRawPointer(y + offset).loadUnaligned(as: UInt64.self)
        {
            offset += 8
        }
        while offset < count && x[offset] == y[offset] { offset += 1 }
        return offset
    }
}
