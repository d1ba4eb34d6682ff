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

        public var description: String {
            switch self {
            case .empty: "empty path"
            case .absolute: "absolute path"
            case .parentComponent: "path climbs out of the tree with '..'"
            case .dotComponent: "path has a '.' component"
            case .emptyComponent: "path has an empty component ('//' or a trailing '/')"
            case .nulByte: "path contains a NUL byte"
            }
        }
    }

    public static func problem(in path: UnsafeBufferPointer<UInt8>) -> Problem? {
        guard let first = path.first else { return .empty }
        if first == slash { return .absolute }
        var componentStart = 0
        for index in 0...path.count {
            let atEnd = index == path.count
            if !atEnd && path[index] == 0 { return .nulByte }
            guard atEnd || path[index] == slash else { continue }
            switch index - componentStart {
            case 0: return .emptyComponent
            case 1 where path[componentStart] == dot: return .dotComponent
            case 2 where path[componentStart] == dot && path[componentStart + 1] == dot: return .parentComponent
            default: break
            }
            componentStart = index + 1
        }
        return nil
    }

    public static func problem(in path: [UInt8]) -> Problem? {
        path.withUnsafeBufferPointer { problem(in: $0) }
    }

    private static let slash: UInt8 = 0x2F
    private static let dot: UInt8 = 0x2E
}
