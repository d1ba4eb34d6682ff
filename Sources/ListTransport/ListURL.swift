import ListProtocol

/// The URLs a list is asked for at: shared by quick-mirror and mirror-cache, so that both
/// ask a filelistd the same way.
public enum ListURL {
    /// `BASE/PATH`, each path component escaped (a list path may hold spaces).
    public static func list(base: String, path: String) -> String {
        "\(base)/\(path.split(separator: "/").map { PercentCoding.encodePathComponent($0) }.joined(separator: "/"))"
    }

    /// filelistd's delta from the version whose digest is `digest` to the current one.
    public static func changes(base: String, path: String, since digest: String) -> String {
        "\(base)/changes?list=\(queryEscaped(path))&since=\(digest)"
    }

    static func queryEscaped(_ text: String) -> String { PercentCoding.encodeQueryValue(text) }

    /// filelistd's newest announcement in which each list has the digest given: which
    /// generation a client that fetched those versions holds.
    public static func announcement(base: String, carrying digests: [(path: String, digest: String)]) -> String {
        "\(base)/announcement?" + digests.map { "list=\(queryEscaped($0.path))&etag=\($0.digest)" }.joined(separator: "&")
    }

    /// filelistd's `/status`.
    public static func status(base: String) -> String { "\(base)/status" }
}
