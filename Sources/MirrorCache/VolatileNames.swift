/// Names whose contents change under the same name (repository metadata), for paths no
/// list covers: these are revalidated after `--volatile-ttl`; every other file is kept
/// until evicted, as a package file's name names its contents.
///
/// The rule set, by the file name (the last component):
/// - dnf/yum: `repomd.xml` (and its `.asc`/`.key`), `*.sqlite*` databases, `metalink`,
///   `mirrorlist`, anything in a `repodata/` directory whose name carries no checksum
///   prefix (those with one are immutable: `<sha256>-primary.xml.gz` never changes).
/// - apt: `Release`, `Release.gpg`, `InRelease`, `Packages*`, `Sources*`, `Contents-*`,
///   `Translation-*`, `by-hash` is content-addressed and therefore not volatile.
/// - Gentoo and others: `Manifest*`, `timestamp*`, `*.md5sum`/`SHA256SUMS`-style check files,
///   the lists themselves (`fullfiletimelist*`, `fullfilelist`, `imagelist*`).
public enum VolatileNames {
    static let exact: [[UInt8]] = [
        "repomd.xml", "repomd.xml.asc", "repomd.xml.key", "metalink", "mirrorlist", "Release", "Release.gpg",
        "InRelease", "fullfilelist", "SHA256SUMS", "SHA512SUMS", "MD5SUMS", "CHECKSUM",
    ].map { Array($0.utf8) }
    static let prefixes: [[UInt8]] = [
        "Packages", "Sources", "Contents-", "Translation-", "Manifest", "timestamp", "fullfiletimelist", "imagelist",
    ].map { Array($0.utf8) }
    static let infixes: [[UInt8]] = [".sqlite"].map { Array($0.utf8) }
    static let suffixes: [[UInt8]] = ["-CHECKSUM", ".md5sum"].map { Array($0.utf8) }
    static let byHash = Array("by-hash".utf8)
    static let repodata = Array("repodata".utf8)

    /// Asked at every hit on a path no list covers: bytes only, no Foundation search,
    /// no array of components.
    public static func isVolatile(_ path: String) -> Bool {
        var path = path
        return path.withUTF8 { bytes in
            var name: Slice<UnsafeBufferPointer<UInt8>>?
            var parent: Slice<UnsafeBufferPointer<UInt8>>?
            var start = bytes.startIndex
            while start < bytes.endIndex {
                let end = bytes[start...].firstIndex(of: UInt8(ascii: "/")) ?? bytes.endIndex
                if end > start {
                    let component = bytes[start..<end]
                    if component.elementsEqual(byHash) { return false }
                    (parent, name) = (name, component)
                }
                start = end + 1
            }
            guard let name else { return false }
            if exact.contains(where: { name.elementsEqual($0) }) { return true }
            if prefixes.contains(where: { name.starts(with: $0) }) { return true }
            if suffixes.contains(where: { name.count >= $0.count && name.suffix($0.count).elementsEqual($0) }) {
                return true
            }
            for infix in infixes where name.count >= infix.count {
                for start in name.startIndex...(name.endIndex - infix.count)
                where name[start] == infix[0] && name[start..<(start + infix.count)].elementsEqual(infix) {
                    return true
                }
            }
            if let parent, parent.elementsEqual(repodata) {
                // `<64 hex>-primary.xml.gz`: the name holds the checksum of the contents.
                let head = name.prefix { $0 != UInt8(ascii: "-") }
                let checksummed = head.count >= 32 && head.allSatisfy(isHexDigit)
                return !checksummed
            }
            return false
        }
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"),
            UInt8(ascii: "A")...UInt8(ascii: "F"):
            return true
        default: return false
        }
    }
}
