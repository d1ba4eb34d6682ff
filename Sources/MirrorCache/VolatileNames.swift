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
    static let exact: Set<String> = [
        "repomd.xml", "repomd.xml.asc", "repomd.xml.key", "metalink", "mirrorlist", "Release", "Release.gpg",
        "InRelease", "fullfilelist", "SHA256SUMS", "SHA512SUMS", "MD5SUMS", "CHECKSUM",
    ]
    static let prefixes = [
        "Packages", "Sources", "Contents-", "Translation-", "Manifest", "timestamp", "fullfiletimelist", "imagelist",
    ]

    public static func isVolatile(_ path: String) -> Bool {
        let components = path.split(separator: "/")
        guard let name = components.last.map(String.init) else { return false }
        if components.contains("by-hash") { return false }
        if exact.contains(name) { return true }
        if prefixes.contains(where: { name.hasPrefix($0) }) { return true }
        if name.contains(".sqlite") || name.hasSuffix("-CHECKSUM") || name.hasSuffix(".md5sum") { return true }
        if components.dropLast().last == "repodata" {
            // `<64 hex>-primary.xml.gz`: the name holds the checksum of the contents.
            let head = name.prefix { $0 != "-" }
            let checksummed = head.count >= 32 && head.allSatisfy(\.isHexDigit)
            return !checksummed
        }
        return false
    }
}
