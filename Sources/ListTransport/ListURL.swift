import Foundation

/// The URLs a list is asked for at, and what an ETag says about the server: shared by
/// quick-mirror and mirror-cache, so that both ask a filelistd the same way.
public enum ListURL {
    /// `BASE/PATH`, each path component escaped (a list path may hold spaces).
    public static func list(base: String, path: String) -> String {
        "\(base)/\(path.split(separator: "/").map { pathEscaped(String($0)) }.joined(separator: "/"))"
    }

    /// filelistd's delta from the version whose SHA-256 is `digest` to the current one.
    public static func changes(base: String, path: String, since digest: String) -> String {
        "\(base)/changes?list=\(queryEscaped(path))&since=\(digest)"
    }

    /// A filelistd ETag is `"<64 hex digits>"`; other servers' ETags have no delta.
    public static func digest(ofETag etag: String) -> String? {
        let bare = etag.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        return bare.count == 64 && bare.allSatisfy(\.isHexDigit) ? bare.lowercased() : nil
    }

    static func queryEscaped(_ text: String) -> String {
        text.addingPercentEncoding(
            withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+#")))
            ?? text
    }

    static func pathEscaped(_ component: String) -> String {
        component.addingPercentEncoding(
            withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/")))
            ?? component
    }
}
