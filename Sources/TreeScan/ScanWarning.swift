import SystemPackage

/// Something the scan passed over. None of these stop a scan: the reference generator
/// warns and goes on, and clients expect a list even when one corner of the tree is odd.
public enum ScanWarning: Sendable, Equatable, CustomStringConvertible {
    /// A symlink whose target does not exist (or cannot be reached). The wording
    /// `Could not stat` is what operators and scripts grep for in the reference's output.
    case danglingSymlink(path: String)
    /// A name with a newline or a TAB: it cannot be written without breaking every client.
    case unlistableName(path: String)
    case cannotStat(path: String, errno: Errno)
    case cannotReadDirectory(path: String, errno: Errno)
    case cannotChecksum(path: String, errno: Errno)

    public var description: String {
        switch self {
        case .danglingSymlink(let path): "Could not stat \(path): dangling symlink, skipped"
        case .unlistableName(let path): "skipped a name with a newline or TAB, which no client can read: \(path)"
        case .cannotStat(let path, let errno): "Could not stat \(path): \(errno), skipped"
        case .cannotReadDirectory(let path, let errno):
            "could not read directory \(path): \(errno); its contents are not listed"
        case .cannotChecksum(let path, let errno): "could not checksum \(path): \(errno); no checksum line for it"
        }
    }
}
