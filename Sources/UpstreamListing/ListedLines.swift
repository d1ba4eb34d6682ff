import FileList

#if canImport(Glibc)
    import Glibc
#endif

/// One version of one list, held for lookups on every request: the list's bytes and a
/// 16-byte record per line (`CompactFileList`), and an open-addressing table of line
/// indexes keyed by the path's 128-bit `PathKey`. A lookup hashes the asked path once,
/// probes a few 4-byte slots and compares the candidate's path bytes: no parsing, no
/// per-line object, no String per path (names are bytes: NFC and NFD stay two files).
///
/// Only file and symlink lines go into the table: a directory is never a request path.
final class ListedLines: Sendable {
    let list: CompactFileList
    /// Line index + 1, 0 for an empty slot; a power-of-two count, at most 3/4 full.
    private let slots: [UInt32]
    /// SHA-256 by line index, from the `[Checksums SHA256]` section (a few paths: the
    /// `repomd.xml` files, or the names an operator chose). By index, so that a lookup
    /// allocates nothing.
    let sha256: [Int: String]

    /// Reads a list as strictly as quick-mirror does; a malformed list throws the
    /// reader's error, which names `source` and the line.
    init(bytes: [UInt8], source: String) throws(FileListError) {
        let list = try CompactFileList(validating: bytes, source: source)
        self.list = list
        var capacity = 16
        while capacity * 3 < list.count * 4 { capacity <<= 1 }
        var slots = [UInt32](repeating: 0, count: capacity)
        let mask = capacity - 1
        list.bytes.withUnsafeBufferPointer { bytes in
            for index in 0..<list.count where Self.isListed(list.type(index).kind) {
                let range = Self.pathRange(list, index)
                var slot = Self.hash(UnsafeBufferPointer(rebasing: bytes[range])) & mask
                while slots[slot] != 0 { slot = (slot + 1) & mask }
                slots[slot] = UInt32(index + 1)
            }
        }
        self.slots = slots
        var sha256: [Int: String] = [:]
        for checksum in list.checksums[.sha256] ?? [] {
            if let index = Self.line(checksum.path, in: list, slots: slots) {
                sha256[index] = checksum.hex.lowercased()
            }
        }
        self.sha256 = sha256
    }

    /// Where a line's path lies in the list's bytes (a slice's indexes are the array's).
    private static func pathRange(_ list: CompactFileList, _ index: Int) -> Range<Int> {
        let path = list.path(index)
        return path.startIndex..<path.endIndex
    }

    /// Files and symlinks; see `UpstreamListing` for what a symlink's line is good for.
    static func isListed(_ kind: EntryKind) -> Bool { kind == .file || kind == .symlink }

    private static func hash(_ path: UnsafeBufferPointer<UInt8>) -> Int {
        Int(truncatingIfNeeded: PathKey(path).low)
    }

    /// The line of a file or symlink at `path` (relative to the list's directory). With
    /// a path listed twice (no generator writes that), the first line wins.
    func line(_ path: some Collection<UInt8>) -> Int? {
        Self.line(path, in: list, slots: slots)
    }

    private static func line(_ path: some Collection<UInt8>, in list: CompactFileList, slots: [UInt32]) -> Int? {
        if let found = path.withContiguousStorageIfAvailable({ line(bytes: $0, in: list, slots: slots) }) {
            return found
        }
        return Array(path).withUnsafeBufferPointer { line(bytes: $0, in: list, slots: slots) }
    }

    private static func line(bytes path: UnsafeBufferPointer<UInt8>, in list: CompactFileList, slots: [UInt32]) -> Int?
    {
        let mask = slots.count - 1
        var slot = Self.hash(path) & mask
        return list.bytes.withUnsafeBufferPointer { bytes in
            while slots[slot] != 0 {
                let index = Int(slots[slot] - 1)
                let candidate = UnsafeBufferPointer(rebasing: bytes[Self.pathRange(list, index)])
                if candidate.count == path.count
                    && (path.isEmpty || memcmp(candidate.baseAddress!, path.baseAddress!, path.count) == 0)
                {
                    return index
                }
                slot = (slot + 1) & mask
            }
            return nil
        }
    }

    /// What a request needs to know of a file's line; nil for a symlink (see
    /// `UpstreamListing`) and for a path the list does not name.
    func listed(_ path: some Collection<UInt8>) -> ListedFile? {
        guard let index = line(path), list.type(index).kind == .file else { return nil }
        return ListedFile(mtime: list.time(index), size: list.size(index), sha256: sha256[index])
    }

    /// What a generation compares: the line's time, type and size, and its checksum.
    func fingerprint(_ path: some Collection<UInt8>) -> Fingerprint? {
        guard let index = line(path) else { return nil }
        return Fingerprint(
            time: list.time(index), type: list.type(index), size: list.size(index), sha256: sha256[index])
    }

    /// The SHA-256 of each path the checksum section names, by path.
    var sha256ByPath: [[UInt8]: String] {
        Dictionary(sha256.map { (Array(list.path($0.key)), $0.value) }, uniquingKeysWith: { first, _ in first })
    }

    struct Fingerprint: Equatable {
        var time: Int64
        var type: EntryType
        var size: Int64
        var sha256: String?
    }

    /// Memory held for this version, for the benchmark's figures.
    var footprint: Int {
        list.heldBytes + slots.capacity * 4
    }
}
