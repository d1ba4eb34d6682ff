/// How a list travels over HTTP: as it is, or gzip-compressed (about a tenth of the
/// bytes, which matters for a mirror's first sync and for a tier that lost its deltas).
/// The compressed form has an ETag of its own (`EntityTag.gzipList`), which still names
/// the list's content: a client that decompresses checks the digest of what it got
/// against it and keeps the identity ETag, the one `/changes` understands.
public enum ListCoding {
    public static let gzip = "gzip"

    /// Whether an `Accept-Encoding` value allows gzip: `gzip`, `x-gzip` or `*`, unless
    /// its weight is zero (`gzip;q=0`). Made for the request path: no allocation.
    public static func acceptsGzip(_ acceptEncoding: Substring.UTF8View) -> Bool {
        for item in acceptEncoding.split(separator: UInt8(ascii: ",")) {
            let parts = item.split(separator: UInt8(ascii: ";"), maxSplits: 1)
            guard let name = parts.first.map(trimmed) else { continue }
            let named =
                equalsIgnoringCase(name, "gzip") || equalsIgnoringCase(name, "x-gzip") || name.elementsEqual("*".utf8)
            guard named else { continue }
            guard parts.count == 2 else { return true }
            return !isZeroWeight(trimmed(parts[1]))
        }
        return false
    }

    /// `q=0`, `q=0.`, `q=0.000`: the coding is refused.
    private static func isZeroWeight(_ parameter: Substring.UTF8View.SubSequence) -> Bool {
        guard parameter.count >= 3, parameter.first == UInt8(ascii: "q") || parameter.first == UInt8(ascii: "Q"),
            parameter.dropFirst().first == UInt8(ascii: "=")
        else { return false }
        let value = parameter.dropFirst(2)
        guard value.first == UInt8(ascii: "0") else { return false }
        return value.dropFirst().allSatisfy { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "0") }
    }

    private static func trimmed(_ bytes: Substring.UTF8View.SubSequence) -> Substring.UTF8View.SubSequence {
        var bytes = bytes
        while let first = bytes.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") { bytes.removeFirst() }
        while let last = bytes.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") { bytes.removeLast() }
        return bytes
    }

    private static func equalsIgnoringCase(_ bytes: Substring.UTF8View.SubSequence, _ word: StaticString) -> Bool {
        guard bytes.count == word.utf8CodeUnitCount else { return false }
        return zip(bytes, UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)).allSatisfy {
            $0 | 0x20 == $1 | 0x20
        }
    }
}
