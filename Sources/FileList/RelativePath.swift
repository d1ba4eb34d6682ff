/// Checks that a path read from a list stays inside the tree it describes.
///
/// A list comes from the network; a path in it is joined to a local mirror root, so
/// anything that could climb out of that root or name the root itself is refused.
public enum RelativePath {
    public enum Problem: Sendable, Hashable, CustomStringConvertible {
        case empty
        case absolute
        case parentComponent
        case dotComponent
        case emptyComponent
        case nulByte
        case tooLong

        public var description: String {
            switch self {
            case .empty: "empty path"
            case .absolute: "absolute path"
            case .parentComponent: "path climbs out of the tree with '..'"
            case .dotComponent: "path has a '.' component"
            case .emptyComponent: "path has an empty component ('//' or a trailing '/')"
            case .nulByte: "path contains a NUL byte"
            case .tooLong: "path is longer than PATH_MAX (4096 bytes)"
            }
        }
    }

    public static func problem(in path: UnsafeBufferPointer<UInt8>) -> Problem? {
        guard let base = path.baseAddress, let first = path.first else { return .empty }
        if first == slash { return .absolute }
        if path.count > 4096 { return .tooLong }
        // memchr does the byte scanning; only the components' edges are looked at here.
        if memchr(base, 0, path.count) != nil { return .nulByte }
        var componentStart = 0
        while true {
            let rest = path.count - componentStart
            let end =
                memchr(base + componentStart, Int32(slash), rest).map { UnsafeRawPointer($0) - UnsafeRawPointer(base) }
                ?? path.count
            switch end - componentStart {
            case 0: return .emptyComponent
            case 1 where path[componentStart] == dot: return .dotComponent
            case 2 where path[componentStart] == dot && path[componentStart + 1] == dot: return .parentComponent
            default: break
            }
            if end == path.count { return nil }
            componentStart = end + 1
        }
    }

    public static func problem(in path: [UInt8]) -> Problem? {
        path.withUnsafeBufferPointer { problem(in: $0) }
    }

    private static let slash: UInt8 = 0x2F
    private static let dot: UInt8 = 0x2E
}

#if canImport(Glibc)
    import Glibc
#endif
