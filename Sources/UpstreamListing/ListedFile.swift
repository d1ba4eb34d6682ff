/// What the upstream's list says about one path: enough to tell whether a cached
/// copy is the one listed, without asking the upstream.
public struct ListedFile: Sendable, Hashable {
    /// The time of the path's line in the list, seconds since the epoch.
    public var mtime: Int64
    public var size: Int64
    /// Lowercase hex SHA-256, when the list's checksum section names the path.
    public var sha256: String?

    public init(mtime: Int64, size: Int64, sha256: String? = nil) {
        self.mtime = mtime
        self.size = size
        self.sha256 = sha256
    }
}

/// The upstream's current list lines, by request path: the URL path below the
/// upstream's root, percent-decoded, without a leading slash (`fedora/linux/x.rpm`).
public protocol ListedFiles: Sendable {
    /// nil when no list names the path, or no list has been read yet.
    func listed(_ path: String) -> ListedFile?
    /// Whether `path` lies below a directory that one of the lists covers, so its
    /// absence from the list means something (still not a 404: the list may lag).
    func isCovered(_ path: String) -> Bool
}

/// One new generation of the upstream's lists: the request paths whose line changed,
/// appeared or disappeared since the previous generation.
public struct ListGeneration: Sendable {
    public var generation: Int
    public var changed: [String]
    public var removed: [String]

    public init(generation: Int, changed: [String], removed: [String]) {
        self.generation = generation
        self.changed = changed
        self.removed = removed
    }
}
