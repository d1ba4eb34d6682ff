import FileList

/// What a scan lists, hashes and skips, beyond the fixed rules of the format.
public struct ScanOptions: Sendable {
    /// Names skipped only in the top directory (`-S NAME`, and the output lists with `-s`).
    public var topLevelSkips: Set<[UInt8]> = []
    /// Name prefixes skipped only in the top directory: the publisher's temporary files.
    public var topLevelSkipPrefixes: [[UInt8]] = []
    /// Regular files with one of these names get checksums (`-c` adds `repomd.xml`, `-C NAME`).
    public var checksumNames: Set<[UInt8]> = []
    public var algorithms: [ChecksumAlgorithm] = [.sha1]
    /// Threads walking the tree. Two per core would only add contention: the walk is
    /// bound by statx calls, which scale with cores, not with threads.
    public var workers: Int = ScanOptions.defaultWorkers
    /// Keep dangling symlinks and symlinks to unreadable targets as unlisted entries. A
    /// watcher needs them: creating or chmodding the target makes the link appear, and the
    /// kernel reports nothing about the link itself.
    public var keepUnlistedSymlinks = false
    /// Keep entries that are not group-readable, and everything below such directories,
    /// as unlisted entries (hidden directories are read and walked too). A watcher needs
    /// them: a hidden name may be another name of a hard-linked inode, and a chmod, a
    /// write or a link through it changes the line of a listed name (or through a listed
    /// name, makes it appear) with no event anywhere else; and a hidden directory must be
    /// watched for that.
    public var keepHiddenEntries = false

    public init() {}

    public static var defaultWorkers: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }
}

#if canImport(Glibc)
    import Glibc
#endif
