import ListProtocol

/// Where a request's object lives: its file below the cache directory, the URLs that
/// serve it, and (reverse mode) the path the upstream's list would name it by.
///
/// Every path that reaches the file system is built here, from components that were
/// percent-decoded first and then checked: no `.` or `..`, no NUL, no `/` smuggled in as
/// `%2f` (it splits like any other slash, and the pieces are checked), so whatever the URL
/// holds, the key names a file below the cache directory.
public struct RequestTarget: Sendable, Hashable {
    /// Relative to the cache directory: `reverse/<path>` or `proxy/<host>/<path>`.
    public var key: String
    /// The path below the upstream's root, as the lists name it; nil in forward-proxy mode.
    public var listedPath: String?
    /// Base URLs to fetch from, in order of preference, each without a trailing slash.
    public var origins: [String]
    /// The decoded path below the origin, components joined by `/`.
    var decodedPath: String

    /// The path to append to an origin: re-encoded components, leading slash. Made when
    /// asked (a miss), not for every hit.
    public var upstreamPath: String {
        // Split as bytes: a `/` followed by a combining mark is one Character with it, and
        // would be sent as `%2F`, which many servers refuse or read as another path.
        "/"
            + decodedPath.utf8.split(separator: UInt8(ascii: "/")).map {
                PercentCoding.encodePathComponent(String(decoding: $0, as: UTF8.self))
            }
            .joined(separator: "/")
    }

    public enum Rejection: Error, Equatable, CustomStringConvertible {
        case malformed(String)
        case escapes(String)
        case connect

        public var description: String {
            switch self {
            case .malformed(let target): return "malformed request target '\(target)'"
            case .escapes(let target): return "request path '\(target)' leaves the cache"
            case .connect:
                return "CONNECT is refused: HTTPS cannot be cached without breaking it; use the cache's reverse URL"
            }
        }
    }

    /// Parses an origin-form (`/path`, reverse mode) or absolute-form (`http://host/path`,
    /// forward proxy) target. A query makes the request uncacheable: nil, pass it through.
    public static func parse(_ target: String, upstreams: [String]) throws(Rejection) -> (RequestTarget, query: String?)
    {
        // Searched as bytes: character by character, this took a tenth of a hit's parsing.
        var rest = Substring(target)
        var query: String?
        if let mark = rest.utf8.firstIndex(of: UInt8(ascii: "?")) {
            query = String(rest[rest.utf8.index(after: mark)...])
            rest = rest[..<mark]
        }
        if let hash = rest.utf8.firstIndex(of: UInt8(ascii: "#")) { rest = rest[..<hash] }
        if rest.utf8.first == UInt8(ascii: "/") {
            let path: String
            if let plain = plainPath(rest) {
                path = plain
            } else {
                path = try checkedComponents(rest, original: target).joined(separator: "/")
            }
            return (
                RequestTarget(key: "reverse/" + path, listedPath: path, origins: upstreams, decodedPath: path), query
            )
        }
        let scheme = "http://"
        guard rest.lowercased().hasPrefix(scheme) else { throw .malformed(target) }
        rest = rest.dropFirst(scheme.count)
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<authorityEnd].lowercased()
        guard isHost(authority) else { throw .malformed(target) }
        let path = try checkedComponents(rest[authorityEnd...], original: target).joined(separator: "/")
        return (
            RequestTarget(
                key: "proxy/\(authority)/" + path, listedPath: nil, origins: ["http://\(authority)"], decodedPath: path),
            query
        )
    }

    /// `host`, `host:port`, `[v6]:port`: letters, digits and the few marks of a name or
    /// address, never a component that could mean a directory (`..`, empty).
    static func isHost(_ authority: String) -> Bool {
        guard !authority.isEmpty, authority.utf8.count <= 255, authority != ".", authority != ".." else { return false }
        guard !authority.hasPrefix(".") else { return false }
        return authority.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): return true
            case UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: ":"), UInt8(ascii: "["), UInt8(ascii: "]"):
                return true
            default: return false
            }
        }
    }

    /// The decoded path's components; empty ones (`//`) are dropped, as every web server
    /// does; `.`, `..` and NUL are refused rather than resolved, so no two spellings can
    /// reach a name the plain one does not.
    static func checkedComponents(_ path: Substring, original: String) throws(Rejection) -> [String] {
        guard let decoded = PercentCoding.decode(path) else { throw .malformed(original) }
        guard !decoded.contains(0) else { throw .escapes(original) }
        var components: [String] = []
        for raw in decoded.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true) {
            guard let component = String(validating: raw, as: UTF8.self) else { throw .malformed(original) }
            guard component != ".", component != ".." else { throw .escapes(original) }
            components.append(component)
        }
        guard !components.isEmpty else { throw .malformed(original) }
        return components
    }

    /// The path without its leading slash when it needs no decoding and no checking
    /// beyond one look at each byte (what almost every request names); nil sends it the
    /// long way, through `checkedComponents`, which decides the same for these.
    static func plainPath(_ path: Substring) -> String? {
        var component = 0
        var dots = 0
        var first = true
        for byte in path.utf8 {
            if first {
                first = false
                continue
            }
            switch byte {
            case UInt8(ascii: "/"):
                guard component > 0, dots != component || dots > 2 else { return nil }
                component = 0
                dots = 0
            case UInt8(ascii: "%"), 0, 0x80...0xFF: return nil
            case UInt8(ascii: "."):
                component += 1
                dots += 1
            default: component += 1
            }
        }
        guard component > 0, dots != component || dots > 2 else { return nil }
        return String(path.dropFirst())
    }
}
