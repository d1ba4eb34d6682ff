/// How a list travels over HTTP: as it is, or gzip-compressed (about a tenth of the
/// bytes, which matters for a mirror's first sync and for a tier that lost its deltas).
///
/// filelistd's identity ETag is `"<SHA-256 of the list>"`. The compressed form is
/// another representation, so RFC 9110 wants another ETag: `"<SHA-256>-gzip"`, which
/// still names the list's content. A client that decompresses checks the SHA-256 of
/// what it got against it and keeps the identity ETag, the one `/changes` understands.
public enum ListCoding {
    public static let gzip = "gzip"
    static let gzipSuffix = "-gzip"

    /// The ETag of the gzip representation of the list whose SHA-256 is `digest`.
    public static func gzipETag(digest: String) -> String { "\"\(digest)\(gzipSuffix)\"" }

    /// The list digest a gzip ETag names, or nil for any other ETag.
    public static func digest(ofGzipETag etag: String) -> String? {
        var bare = Substring(etag)
        if bare.hasPrefix("W/") { bare = bare.dropFirst(2) }
        guard bare.count > 2, bare.first == "\"", bare.last == "\"" else { return nil }
        bare = bare.dropFirst().dropLast()
        guard bare.hasSuffix(gzipSuffix) else { return nil }
        let digest = bare.dropLast(gzipSuffix.count)
        return digest.count == 64 && digest.allSatisfy(\.isHexDigit) ? String(digest) : nil
    }

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
