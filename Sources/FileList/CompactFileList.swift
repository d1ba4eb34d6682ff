import Dispatch

#if canImport(Glibc)
    import Glibc
#endif

/// A parsed list for big jobs: one 24-byte record per line, optionally the lines'
/// 128-bit path keys sorted for matching, and optionally the list's bytes.
///
/// `FileListReader.parse` gives an entry with its own path array per line: simple, but
/// a million lines cost a million allocations and ~150 bytes each. A client planning a
/// sync from two such lists keeps this instead. Paths stay where they are in the bytes
/// (offsets are 32-bit: a list may be up to 4 GiB, ten times Fedora's); the bytes of an
/// old list can be dropped once parsed, and read again for the few paths a plan needs.
public struct CompactFileList: Sendable {
    public private(set) var bytes: [UInt8]
    public let version: Int
    public let checksums: [ChecksumAlgorithm: [ChecksumLine]]
    var records: [Record] = []
    /// Path keys with their line index, sorted by key: what `FileListDiff` matches on.
    /// Empty for a list read with `init(validating:)`, whose keys are made when asked for.
    public private(set) var sortedKeys: [KeyedIndex] = []
    /// Where the first `[Files]` line starts in `bytes`.
    let filesStart: Int

    /// 16 bytes a line, so that planning from a million-line list holds 16 MB of them.
    /// A path is at most PATH_MAX (4096) bytes, which leaves the top bit of its 16-bit
    /// length free: it marks a line whose time or size does not fit 32 bits (a time after
    /// 2106, a file of 4 GiB or more such as a DVD image). Those two are read again from
    /// the line's text, which the list keeps, when asked for.
    struct Record {
        var pathStart: UInt32
        private var lengthAndWide: UInt16
        var type: EntryType
        private var narrowTime: UInt32
        private var narrowSize: UInt32

        private static let wideBit: UInt16 = 0x8000

        init(pathStart: UInt32, pathLength: Int, type: EntryType, time: Int64, size: Int64) {
            self.pathStart = pathStart
            self.type = type
            let fits = UInt32(exactly: time) != nil && UInt32(exactly: size) != nil
            lengthAndWide = UInt16(pathLength) | (fits ? 0 : Self.wideBit)
            narrowTime = fits ? UInt32(time) : 0
            narrowSize = fits ? UInt32(size) : 0
        }

        var pathLength: Int { Int(lengthAndWide & ~Self.wideBit) }

        /// Where the line's `\n` is: the path is the rest of the line.
        var lineEnd: Int { Int(pathStart) + pathLength }

        /// The line's time and size; `bytes` are the list's, which this record was read from.
        @inline(__always)
        func values(in bytes: UnsafeBufferPointer<UInt8>) -> (time: Int64, size: Int64) {
            guard lengthAndWide & Self.wideBit != 0 else { return (Int64(narrowTime), Int64(narrowSize)) }
            return Self.readValues(before: Int(pathStart), in: bytes)
        }

        /// The time and size fields of the line whose path starts at `pathStart`, read
        /// backwards from the TAB before the path: `TIME TAB TYPE TAB SIZE TAB PATH`,
        /// digits only, as the reader accepted them.
        private static func readValues(before pathStart: Int, in bytes: UnsafeBufferPointer<UInt8>) -> (
            time: Int64, size: Int64
        ) {
            var position = pathStart - 2
            func number() -> Int64 {
                var value: Int64 = 0
                var scale: Int64 = 1
                while position >= 0, bytes[position] != FileListFormat.tab, bytes[position] != FileListFormat.newline {
                    value += Int64(bytes[position] &- 0x30) * scale
                    scale = scale &* 10
                    position -= 1
                }
                position -= 1
                return value
            }
            let size = number()
            while bytes[position] != FileListFormat.tab { position -= 1 }
            position -= 1
            return (number(), size)
        }
    }

    /// Reads with the same strictness as `FileListReader.parse`. Keys are computed here,
    /// while each path is still in the cache. `keysOnly` keeps just what a diff needs of
    /// an old list (no bytes, no records): its few removed lines are read again with
    /// `lines(at:in:)`.
    public init(parsing bytes: [UInt8], source: String? = nil, keysOnly: Bool = false) throws(FileListError) {
        var records: [Record] = []
        var keys: [KeyedIndex] = []
        var lineCount = 0
        if !keysOnly { records.reserveCapacity(bytes.count / 90) }
        keys.reserveCapacity(bytes.count / 90)
        var filesStart = 0
        let result = bytes.withUnsafeBufferPointer { buffer in
            Result { () throws(FileListError) in
                try FileListReader.read(buffer, source: source) { view in
                    if lineCount == 0 { filesStart = Self.lineStart(ofPathAt: view.pathOffset, in: buffer) }
                    keys.append(
                        KeyedIndex(
                            key: PathKey(view.path), index: UInt32(lineCount),
                            fingerprint: KeyedIndex.fingerprint(view.time, view.size, view.type, comparingTimes: true)))
                    lineCount += 1
                    if keysOnly { return }
                    records.append(Record(view))
                }
            }
        }
        (version, checksums) = try result.get()
        KeyedIndex.sort(&keys)
        self.bytes = keysOnly ? [] : bytes
        self.records = records
        self.filesStart = keysOnly ? 0 : filesStart
        count = lineCount
        sortedKeys = keys
    }

    /// Reads with the same strictness, keeping the bytes and a record per line but no
    /// keys: for a list compared in step with the old one (`InStepDiff`), which needs
    /// keys only for the few lines that differ. A big `[Files]` section is read in two
    /// halves on two threads; the error, if any, is the one a sequential read gives.
    public init(validating bytes: [UInt8], source: String? = nil) throws(FileListError) {
        try self.init(validating: bytes, source: source, twoThreadsFrom: Self.twoThreadMinimum)
    }

    /// `twoThreadsFrom` lets a test read a small list in two halves (a debug build reads
    /// the lines a release build reads in 20 ms in seconds).
    init(validating bytes: [UInt8], source: String?, twoThreadsFrom minimum: Int) throws(FileListError) {
        let result = bytes.withUnsafeBufferPointer { buffer in
            Result { () throws(FileListError) in try Self.readRecords(buffer, twoThreadsFrom: minimum) }
        }
        do {
            (version, checksums, records, filesStart) = try result.get()
        } catch var error {
            error.source = source
            throw error
        }
        self.bytes = bytes
        count = records.count
    }

    /// Reads an old list through `read` (see `StreamedLines`) as strictly as
    /// `init(parsing:keysOnly: true)` reads it from memory, and keeps the same: its keys.
    public init(keysOnlyReading read: @escaping (UnsafeMutableRawBufferPointer) -> Int) throws(FileListError) {
        var lines = StreamedLines(read: read)
        defer { lines.deallocate() }
        var keys: [KeyedIndex] = []
        let version = try FileListReader.readHeader(&lines)
        let ended = try FileListReader.readFilesLines(&lines) { view in
            keys.append(
                KeyedIndex(
                    key: PathKey(view.path), index: UInt32(keys.count),
                    fingerprint: KeyedIndex.fingerprint(view.time, view.size, view.type, comparingTimes: true)))
        }
        guard ended else { throw FileListError(line: lines.number, problem: .truncated) }
        checksums = try FileListReader.readTrailer(&lines)
        guard !lines.failed else { throw FileListError(line: lines.number, problem: .truncated) }
        self.version = version
        count = keys.count
        KeyedIndex.sort(&keys)
        sortedKeys = keys
        bytes = []
        filesStart = 0
    }

    /// Below this, a `[Files]` section is read on one thread: starting a second one
    /// costs more than it saves.
    static let twoThreadMinimum = 4 << 20

    private static func readRecords(
        _ buffer: UnsafeBufferPointer<UInt8>, twoThreadsFrom minimum: Int
    ) throws(FileListError) -> (Int, [ChecksumAlgorithm: [ChecksumLine]], [Record], Int) {
        var header = LineCursor(buffer)
        let version = try FileListReader.readHeader(&header)
        let filesStart = header.offset
        // The second half starts after the first newline past the middle. If [Files]
        // ends in the first half, what the second thread read is not [Files] at all and
        // its result is dropped.
        var split = buffer.count
        if buffer.count - filesStart >= minimum, let base = buffer.baseAddress {
            let middle = filesStart + (buffer.count - filesStart) / 2
            if let newline = memchr(base + middle, Int32(FileListFormat.newline), buffer.count - middle) {
                split = UnsafeRawPointer(newline) - UnsafeRawPointer(base) + 1
            }
        }
        // The lines are counted first (memchr runs at memory speed), so that both halves
        // write their records into one array of the right size: a second array, and the
        // spare capacity of one grown by appending, held a fifth more than the records.
        // The first half ends after a newline: it holds exactly as many lines.
        let twoHalves = split < buffer.count
        let firstCapacity = Self.newlines(in: buffer, from: filesStart, to: split) + (twoHalves ? 0 : 1)
        let secondCapacity = twoHalves ? Self.newlines(in: buffer, from: split, to: buffer.count) + 1 : 0
        nonisolated(unsafe) var first = FilesChunk()
        nonisolated(unsafe) var second = FilesChunk()
        let records = [Record](unsafeUninitializedCapacity: firstCapacity + secondCapacity) { storage, count in
            HugePages.advise(UnsafeMutableRawBufferPointer(storage))
            nonisolated(unsafe) let base = storage.baseAddress!
            nonisolated(unsafe) let shared = buffer
            let secondStart = split
            if twoHalves {
                DispatchQueue.concurrentPerform(iterations: 2) { half in
                    if half == 0 {
                        first = FilesChunk(
                            shared, from: filesStart, to: secondStart, into: base, capacity: firstCapacity)
                    } else {
                        second = FilesChunk(
                            shared, from: secondStart, to: shared.count, into: base + firstCapacity,
                            capacity: secondCapacity)
                    }
                }
            } else {
                first = FilesChunk(shared, from: filesStart, to: split, into: base, capacity: firstCapacity)
            }
            count = first.count
            // If [Files] ended in the first half, what the second read is not [Files] at all.
            guard first.error == nil, !first.ended, twoHalves, second.error == nil else { return }
            if count < firstCapacity {
                memmove(base + count, base + firstCapacity, second.count * MemoryLayout<Record>.stride)
            }
            count += second.count
        }
        // Line numbers in a chunk start at 0.
        let headerLines = header.number
        if var error = first.error {
            error.line += headerLines
            throw error
        }
        var trailer = LineCursor(buffer, from: first.end, number: headerLines + first.lines)
        if !first.ended {
            if var error = second.error {
                error.line += headerLines + first.lines
                throw error
            }
            trailer = LineCursor(buffer, from: second.end, number: headerLines + first.lines + second.lines)
            guard second.ended else { throw FileListError(line: trailer.number, problem: .truncated) }
        }
        return (version, try FileListReader.readTrailer(&trailer), records, filesStart)
    }

    /// How many newlines `buffer[start..<end]` holds.
    private static func newlines(in buffer: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int) -> Int {
        guard let base = buffer.baseAddress, start < end else { return 0 }
        var count = 0
        var position = start
        while position < end, let found = memchr(base + position, Int32(FileListFormat.newline), end - position) {
            count += 1
            position = UnsafeRawPointer(found) - UnsafeRawPointer(base) + 1
        }
        return count
    }

    /// The `[Files]` lines of one part of a list, written as records into storage sized
    /// for them.
    private struct FilesChunk {
        var count = 0
        var error: FileListError?
        /// Whether the empty line that ends `[Files]` was found.
        var ended = false
        /// Where reading stopped: after that empty line, or at the end of the part.
        var end = 0
        /// Lines read, the empty one included.
        var lines = 0

        init() {}

        /// `capacity`: the part's newlines, plus one if it may end without one; each line
        /// read ends at a newline or at the end of the part, so no more are written.
        init(
            _ buffer: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int,
            into storage: UnsafeMutablePointer<Record>, capacity: Int
        ) {
            var written = 0
            do {
                (ended, self.end, lines) = try FileListReader.readFilesLines(buffer, from: start, to: end, number: 0) {
                    precondition(written < capacity, "more lines than newlines")
                    (storage + written).initialize(to: Record($0))
                    written += 1
                }
            } catch {
                self.error = error
            }
            count = written
        }
    }

    /// The start of the line whose path starts at `offset`: after the previous newline.
    private static func lineStart(ofPathAt offset: Int, in buffer: UnsafeBufferPointer<UInt8>) -> Int {
        var start = offset
        while start > 0 && buffer[start - 1] != FileListFormat.newline { start -= 1 }
        return start
    }

    public let count: Int
    public func time(_ index: Int) -> Int64 { bytes.withUnsafeBufferPointer { records[index].values(in: $0).time } }
    public func size(_ index: Int) -> Int64 { bytes.withUnsafeBufferPointer { records[index].values(in: $0).size } }
    public func type(_ index: Int) -> EntryType { records[index].type }

    /// The path of a line; the list must have kept its bytes.
    public func path(_ index: Int) -> ArraySlice<UInt8> {
        let record = records[index]
        return bytes[Int(record.pathStart)..<record.lineEnd]
    }

    /// A whole line, with its newline; the list must have kept its bytes.
    public func line(_ index: Int) -> ArraySlice<UInt8> {
        let record = records[index]
        let start = bytes.withUnsafeBufferPointer { Self.lineStart(ofPathAt: Int(record.pathStart), in: $0) }
        return bytes[start..<min(record.lineEnd + 1, bytes.count)]
    }

    /// The type and path of some lines (sorted indexes), from the list's bytes read
    /// again: for a list parsed with `keysOnly`. One pass over the bytes.
    public static func lines(at indexes: [Int], in bytes: [UInt8]) -> [(type: EntryType, path: [UInt8])] {
        guard !indexes.isEmpty else { return [] }
        var result: [(type: EntryType, path: [UInt8])] = []
        var line = 0
        var next = 0
        _ = bytes.withUnsafeBufferPointer { buffer in
            try? FileListReader.read(buffer) { view in
                if next < indexes.count && indexes[next] == line {
                    result.append((view.type, Array(view.path)))
                    next += 1
                }
                line += 1
            }
        }
        return result
    }

    /// The same, read through `read` (see `StreamedLines`) without holding the list.
    public static func lines(
        at indexes: [Int], reading read: @escaping (UnsafeMutableRawBufferPointer) -> Int
    ) -> [(type: EntryType, path: [UInt8])] {
        guard !indexes.isEmpty else { return [] }
        var lines = StreamedLines(read: read)
        defer { lines.deallocate() }
        var result: [(type: EntryType, path: [UInt8])] = []
        var line = 0
        var next = 0
        guard (try? FileListReader.readHeader(&lines)) != nil else { return [] }
        _ = try? FileListReader.readFilesLines(&lines) { view in
            if next < indexes.count && indexes[next] == line {
                result.append((view.type, Array(view.path)))
                next += 1
            }
            line += 1
        }
        return result
    }

    /// The memory the list holds: its bytes, records and keys.
    public var heldBytes: Int {
        bytes.capacity + records.capacity * MemoryLayout<Record>.stride
            + sortedKeys.capacity * MemoryLayout<KeyedIndex>.stride
    }

    /// Frees the sorted keys once the diff is done.
    public mutating func dropKeys() { sortedKeys = [] }
}

/// A 128-bit hash of a path. Lists are matched on it without comparing bytes (which
/// would mean a cache miss per line): two different paths share a key with a
/// probability of about 2^-87 across two lists of a million lines.
public struct PathKey: Hashable, Comparable, Sendable {
    public var high: UInt64
    public var low: UInt64

    public init(_ bytes: UnsafeBufferPointer<UInt8>) {
        var a: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(bytes.count)
        var b: UInt64 = 0xC2B2_AE3D_27D4_EB4F &+ UInt64(bytes.count)
        let raw = UnsafeRawBufferPointer(bytes)
        var offset = 0
        while offset + 8 <= raw.count {
            let word = raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            a = (a ^ word) &* 0xBF58_476D_1CE4_E5B9
            a ^= a >> 29
            b = (b ^ word.byteSwapped) &* 0x94D0_49BB_1331_11EB
            b ^= b >> 32
            offset += 8
        }
        var tail: UInt64 = 0
        while offset < raw.count {
            tail = tail << 8 | UInt64(raw[offset])
            offset += 1
        }
        a = (a ^ tail) &* 0x94D0_49BB_1331_11EB
        b = (b ^ tail) &* 0xBF58_476D_1CE4_E5B9
        high = a ^ a >> 31
        low = b ^ b >> 29
    }

    public static func < (lhs: PathKey, rhs: PathKey) -> Bool {
        lhs.high != rhs.high ? lhs.high < rhs.high : lhs.low < rhs.low
    }
}

/// A line's path key, its index, and a fingerprint of what a diff compares (time, size
/// and type; or size and kind for a local tree), so that matching two lists reads
/// nothing but these arrays, in order.
public struct KeyedIndex: Sendable {
    public var key: PathKey
    public var index: UInt32
    public var fingerprint: UInt64

    public init(key: PathKey, index: UInt32, fingerprint: UInt64) {
        self.key = key
        self.index = index
        self.fingerprint = fingerprint
    }

    public static func fingerprint(_ time: Int64, _ size: Int64, _ type: EntryType, comparingTimes: Bool) -> UInt64 {
        var value = UInt64(type.kind.rawValue)
        if comparingTimes {
            value = value << 8 | UInt64(type.access.rawValue)
            value = (value ^ UInt64(bitPattern: time)) &* 0xBF58_476D_1CE4_E5B9
        }
        // Only a file's size matters: a directory's size is its own business.
        if type.kind == .file { value = (value ^ UInt64(bitPattern: size)) &* 0x94D0_49BB_1331_11EB }
        return value ^ value >> 31
    }

    /// LSD radix sort on the top 32 bits of the key (two 16-bit digits), then the rare
    /// runs that share them (about a hundred in a million) by the whole key: several
    /// times faster than a comparison sort on a million 32-byte elements.
    public static func sort(_ keys: inout [KeyedIndex]) {
        guard keys.count > 1 else { return }
        var buffer = keys
        var counts = [Int](repeating: 0, count: 65_537)
        for shift in [UInt64(32), 48] {
            keys.withUnsafeBufferPointer { source in
                buffer.withUnsafeMutableBufferPointer { target in
                    counts.withUnsafeMutableBufferPointer { counts in
                        counts.update(repeating: 0)
                        for element in source { counts[Int(element.key.high >> shift & 0xFFFF) + 1] += 1 }
                        for digit in 1..<counts.count { counts[digit] += counts[digit - 1] }
                        for element in source {
                            let digit = Int(element.key.high >> shift & 0xFFFF)
                            target[counts[digit]] = element
                            counts[digit] += 1
                        }
                    }
                }
            }
            swap(&keys, &buffer)
        }
        var start = 0
        while start < keys.count {
            var end = start + 1
            while end < keys.count && keys[end].key.high >> 32 == keys[start].key.high >> 32 { end += 1 }
            if end - start > 1 { keys[start..<end].sort { $0.key < $1.key } }
            start = end
        }
    }
}

/// What `FileListDiff` needs of a list; a compact list and an array of entries (a
/// local tree's listing) are compared without conversion.
public protocol DiffableList {
    var count: Int { get }
    func time(_ index: Int) -> Int64
    func size(_ index: Int) -> Int64
    func type(_ index: Int) -> EntryType
    func keysSortedByPath(comparingTimes: Bool) -> [KeyedIndex]
}

extension CompactFileList.Record {
    init(_ view: FileListReader.EntryView) {
        self.init(
            pathStart: UInt32(view.pathOffset), pathLength: view.path.count, type: view.type, time: view.time,
            size: view.size)
    }
}

extension CompactFileList: DiffableList {
    public func keysSortedByPath(comparingTimes: Bool) -> [KeyedIndex] {
        if sortedKeys.isEmpty && !records.isEmpty {
            // Read with `init(validating:)`: the keys are made now, from the bytes.
            var keys = bytes.withUnsafeBufferPointer { buffer in
                records.indices.map { index in
                    let record = records[index]
                    let (time, size) = record.values(in: buffer)
                    return KeyedIndex(
                        key: PathKey(UnsafeBufferPointer(rebasing: buffer[Int(record.pathStart)..<record.lineEnd])),
                        index: UInt32(index),
                        fingerprint: KeyedIndex.fingerprint(time, size, record.type, comparingTimes: comparingTimes))
                }
            }
            KeyedIndex.sort(&keys)
            return keys
        }
        if comparingTimes { return sortedKeys }
        return sortedKeys.map { keyed in
            let index = Int(keyed.index)
            var copy = keyed
            copy.fingerprint = KeyedIndex.fingerprint(time(index), size(index), type(index), comparingTimes: false)
            return copy
        }
    }
}

extension Array: DiffableList where Element == FileListEntry {
    public func time(_ index: Int) -> Int64 { self[index].time }
    public func size(_ index: Int) -> Int64 { self[index].size }
    public func type(_ index: Int) -> EntryType { self[index].type }
    public func keysSortedByPath(comparingTimes: Bool) -> [KeyedIndex] {
        var keys = indices.map { index in
            let entry = self[index]
            return KeyedIndex(
                key: entry.path.withUnsafeBufferPointer(PathKey.init), index: UInt32(index),
                fingerprint: KeyedIndex.fingerprint(entry.time, entry.size, entry.type, comparingTimes: comparingTimes))
        }
        KeyedIndex.sort(&keys)
        return keys
    }
}
