/// An HTTP entity tag (RFC 9110, 8.8.3), the one place the list service and its clients
/// read and write them.
///
/// filelistd's ETag of a list is the list digest in quotes (docs/FORMAT.md, "The list
/// digest"); the gzip representation's is the digest followed by `-gzip`, since RFC 9110
/// wants another tag for another coding of the same content. Both name the list's bytes,
/// so a client checks what it received against `listDigest`. Any other server's ETag is
/// opaque: it can be sent back in `If-None-Match`, and says nothing about the bytes.
public struct EntityTag: Sendable, Hashable, CustomStringConvertible {
    /// What stands between the quotes.
    public var opaque: String
    /// `W/"..."`: the server promises equivalent content only, never the same bytes.
    public var isWeak: Bool

    public init(opaque: String, isWeak: Bool = false) {
        self.opaque = opaque
        self.isWeak = isWeak
    }

    /// One entity tag as a header carries it, `"x"` or `W/"x"`, surrounding blanks
    /// allowed; nil for anything else (a list of tags, `*`, a bare word).
    public init?(_ header: some StringProtocol) {
        var text = Substring(header).utf8[...]
        while let first = text.first, Self.isBlank(first) { text = text.dropFirst() }
        while let last = text.last, Self.isBlank(last) { text = text.dropLast() }
        let weak = text.starts(with: "W/".utf8)
        if weak { text = text.dropFirst(2) }
        guard text.count >= 2, text.first == Self.quote, text.last == Self.quote else { return nil }
        let inner = text.dropFirst().dropLast()
        guard !inner.contains(Self.quote) else { return nil }
        self.init(opaque: String(Substring(inner)), isWeak: weak)
    }

    /// filelistd's ETag of the list whose digest is `digest`.
    public static func list(digest: String) -> EntityTag { EntityTag(opaque: digest) }

    /// filelistd's ETag of the gzip representation of the list whose digest is `digest`.
    public static func gzipList(digest: String) -> EntityTag { EntityTag(opaque: digest + gzipSuffix) }

    static let gzipSuffix = "-gzip"

    /// The header form: `"x"`, or `W/"x"`.
    public var description: String { (isWeak ? "W/" : "") + "\"" + opaque + "\"" }

    /// The digest of the list this tag names, in either representation; nil when the tag
    /// is not filelistd's (weak, or not a list digest).
    public var listDigest: String? {
        guard !isWeak else { return nil }
        let digest = isGzipForm ? String(opaque.dropLast(Self.gzipSuffix.count)) : opaque
        return ListDigest.isWellFormed(digest) ? digest : nil
    }

    /// Whether it names the gzip representation of a list (`"<digest>-gzip"`).
    public var isGzipForm: Bool {
        opaque.hasSuffix(Self.gzipSuffix) && ListDigest.isWellFormed(opaque.dropLast(Self.gzipSuffix.count))
    }

    /// The list digest a `/changes?since=` value names: the ETag as the client holds it
    /// (quoted, either representation's), or the bare digest.
    public static func listDigest(named text: some StringProtocol) -> String? {
        if let tag = EntityTag(text) { return tag.listDigest }
        return ListDigest.isWellFormed(text) ? String(text) : nil
    }

    /// Whether an `If-None-Match` value names the tag whose header form is `etag`: weak
    /// comparison (RFC 9110, 13.1.2: `W/"x"` matches `"x"`), any of a list, `*` matches
    /// all. Made for the request path: no allocation.
    public static func ifNoneMatch(_ header: some StringProtocol, matches etag: String) -> Bool {
        let header = Substring(header)
        if header == etag { return true }
        return header.utf8.split(separator: UInt8(ascii: ",")).contains { candidate in
            var tag = candidate.drop(while: isBlank)
            while let last = tag.last, isBlank(last) { tag = tag.dropLast() }
            if tag.elementsEqual("*".utf8) { return true }
            if tag.starts(with: "W/".utf8) { tag = tag.dropFirst(2) }
            return tag.elementsEqual(etag.utf8)
        }
    }

    private static let quote = UInt8(ascii: "\"")

    private static func isBlank(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
}
