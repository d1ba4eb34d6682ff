import Crypto

#if canImport(Glibc)
    import Glibc
#endif

/// The digest of a list, which is also its HTTP ETag: SHA-256 over the SHA-256 digests of
/// the list's segments, lowercase hex (docs/FORMAT.md, "The list digest").
///
/// A plain SHA-256 of a 326 MB list costs a fifth of a second of a core at every
/// generation, whatever changed. Segments end where the content says (after the last line
/// of a directory, for one directory in 64), so a change of one line changes one segment:
/// a publisher hashes that segment again and reuses the other digests, and a client that
/// holds the bytes checks the digest from them alone.
public enum ListDigest {
    /// The digest of `bytes`, cut into segments by the rule.
    public static func hex(of bytes: UnsafeRawBufferPointer) -> String {
        var digester = ListDigester()
        digester.update(bytes)
        return digester.finish().digest
    }

    public static func hex(of bytes: [UInt8]) -> String { bytes.withUnsafeBytes { hex(of: $0) } }

    /// The digest of a list whose segments have these digests, in order.
    public static func combine(_ segments: some Sequence<SHA256.Digest>) -> String {
        var hasher = SHA256()
        for segment in segments { segment.withUnsafeBytes { hasher.update(bufferPointer: $0) } }
        return hex(hasher.finalize())
    }

    /// Lowercase hex of a SHA-256 digest.
    public static func hex(_ digest: SHA256.Digest) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(64)
        for byte in digest {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// Whether `hex` could be a list digest: 64 lowercase hex digits.
    public static func isWellFormed(_ hex: some StringProtocol) -> Bool {
        hex.utf8.count == 64 && hex.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }
}

/// The segmentation rule, on one line at a time.
public enum ListSegmentRule {
    /// One key in `1 << keyBits` ends a segment (on average: 64 directories per segment).
    public static let keyBits = 6

    /// A line's key: its last TAB-separated field (the whole line when it has no TAB), a
    /// leading `./` dropped, up to its last `/` (empty when there is none). In a list's
    /// `[Files]` and `[Checksums …]` lines and in a path list it is the entry's directory.
    public static func key(ofLine line: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        guard let base = line.baseAddress, !line.isEmpty else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        // From the end: the last `/` comes before the last TAB is reached, if the field has one.
        var slash = -1
        var fieldStart = 0
        var index = line.count - 1
        while index >= 0 {
            let byte = line[index]
            if byte == 0x09 {
                fieldStart = index + 1
                break
            }
            if byte == 0x2F && slash < 0 { slash = index }
            index -= 1
        }
        if line.count - fieldStart >= 2 && line[fieldStart] == 0x2E && line[fieldStart + 1] == 0x2F {
            fieldStart += 2
        }
        guard slash >= fieldStart else { return UnsafeRawBufferPointer(start: base + fieldStart, count: 0) }
        return UnsafeRawBufferPointer(start: base + fieldStart, count: slash - fieldStart)
    }

    /// Whether a segment ends after the last line with this key (when the next line's
    /// key differs): the first `keyBits` bits of the key's SHA-256 are zero.
    public static func endsSegment(key: UnsafeRawBufferPointer) -> Bool {
        let digest = SHA256.hash(data: key)
        return digest.withUnsafeBytes { $0[0] } >> (8 - keyBits) == 0
    }

    public static func endsSegment(key: [UInt8]) -> Bool { key.withUnsafeBytes { endsSegment(key: $0) } }
}

extension ListSegmentRule {
    /// Where the segments of `bytes` are, cut from a fresh start.
    public static func segments(of bytes: [UInt8]) -> [Range<Int>] {
        var digester = ListDigester()
        digester.update(bytes)
        return digester.finish().segments.map { $0.offset..<($0.offset + $0.length) }
    }
}

/// One segment of a new version of a list, as whoever renders it hands it to whoever
/// writes it: the bytes of a segment the previous version also had (`reused`, by its
/// position there), or new bytes. Segments follow `ListSegmentRule`, so the list's
/// digest is the combination of theirs.
public enum SegmentPiece: Sendable {
    case reused(Int)
    case fresh([UInt8])
}

/// One segment of a list: where its bytes are and their SHA-256.
public struct ListSegment: Sendable, Equatable {
    public var offset: Int
    public var length: Int
    public var digest: SHA256.Digest

    public init(offset: Int, length: Int, digest: SHA256.Digest) {
        self.offset = offset
        self.length = length
        self.digest = digest
    }
}

/// Cuts bytes given in chunks of any size into segments and hashes them: what a client
/// that received a list, and a server that reads one it did not write, compute.
public struct ListDigester: Sendable {
    private var hasher = SHA256()
    private var segmentStart = 0
    private var offset = 0
    /// The bytes of a line not yet ended by a newline.
    private var partial: [UInt8] = []
    /// The key of the last line hashed (nil at the start of a section), and whether a
    /// segment ends after it when the next line's key differs.
    private var lastKey: [UInt8]?
    private var lastKeyEnds = false
    public private(set) var segments: [ListSegment] = []

    public init() {}

    /// Starts at `offset` of a list, right after a segment ended: for a publisher that
    /// hashes the tail of a list after segments it reused.
    public init(offset: Int) {
        self.offset = offset
        segmentStart = offset
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        var start = 0
        while start < bytes.count {
            guard let newline = memchr(base + start, 0x0A, bytes.count - start) else {
                partial += UnsafeRawBufferPointer(rebasing: bytes[start...])
                return
            }
            let end = base.distance(to: UnsafeRawPointer(newline)) + 1
            let line = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
            if partial.isEmpty {
                add(line: line)
            } else {
                partial += line
                let whole = partial
                partial = []
                whole.withUnsafeBytes { add(line: $0) }
            }
            start = end
        }
    }

    public mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    /// The segments and the digest of everything given.
    public mutating func finish() -> (digest: String, segments: [ListSegment]) {
        if !partial.isEmpty {
            let last = partial
            partial = []
            last.withUnsafeBytes { add(line: $0) }
        }
        closeSegment()
        return (ListDigest.combine(segments.map(\.digest)), segments)
    }

    /// A line, with its newline when it has one.
    private mutating func add(line: UnsafeRawBufferPointer) {
        let content = line.last == 0x0A ? UnsafeRawBufferPointer(rebasing: line.dropLast()) : line
        let key = ListSegmentRule.key(ofLine: content)
        let sameKey = lastKey.map { last in
            last.count == key.count
                && (key.isEmpty || last.withUnsafeBytes { memcmp($0.baseAddress!, key.baseAddress!, key.count) == 0 })
        }
        if sameKey == false && lastKeyEnds { closeSegment() }
        if sameKey != true {
            lastKey = Array(key)
            lastKeyEnds = ListSegmentRule.endsSegment(key: key)
        }
        hasher.update(bufferPointer: line)
        offset += line.count
        // An empty line ends a section ([Version], [Files], each [Checksums …]): the
        // segment ends with it, so that what follows never shares a segment with lines
        // the publisher renders apart.
        if content.isEmpty {
            closeSegment()
            lastKey = nil
        }
    }

    private mutating func closeSegment() {
        guard offset > segmentStart else { return }
        segments.append(ListSegment(offset: segmentStart, length: offset - segmentStart, digest: hasher.finalize()))
        hasher = SHA256()
        segmentStart = offset
    }
}
