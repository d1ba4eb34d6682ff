import SystemPackage
import FileList

/// One directory as the scan saw it: its listed children, sorted by name bytes.
///
/// Names live in one byte arena per directory, so a directory of 200 files costs a few
/// allocations, not 200 Strings. This is the unit handed from the walk to whoever
/// consumes it (a renderer for `create-filelist`, an index for the daemon).
public struct ScannedDirectory: Sendable {
    /// Path relative to the scanned root, without a trailing slash; empty for the root.
    public var path: [UInt8]
    /// True when some directory above the children (this one included, the root not) is
    /// not world-readable, so world-readable children get `*`.
    public var underRestrictedDirectory: Bool
    public var names: [UInt8] = []
    public var entries: [ScannedEntry] = []
    public var checksums: [FileChecksum] = []
    /// Set when the directory could not be opened or read to the end: its entries are
    /// then not the directory's contents, and an index must not replace what it had.
    public var readError: Errno?
    /// The directory's own time and size (as its line has them), taken when it was read.
    /// Its line comes from its parent's read: in a walk, a change inside a directory that
    /// is not watched yet (inotify watches a directory once the walk opens it) raises no
    /// event, and this is newer.
    public var ownTimeAndSize: (time: Int64, size: Int64)?

    public init(path: [UInt8], underRestrictedDirectory: Bool) {
        self.path = path
        self.underRestrictedDirectory = underRestrictedDirectory
    }

    public func withName<R>(of entry: ScannedEntry, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try names.withUnsafeBufferPointer { arena in
            try body(UnsafeBufferPointer(rebasing: arena[entry.nameRange]))
        }
    }

    /// The relative path of a child.
    public func childPath(_ entry: ScannedEntry) -> [UInt8] {
        var result = path
        if !result.isEmpty { result.append(0x2F) }
        result.append(contentsOf: names[entry.nameRange])
        return result
    }
}

/// A listed child: everything its `[Files]` line needs, plus what an index needs to find
/// the other names of a hard-linked inode.
public struct ScannedEntry: Sendable {
    public var nameStart: UInt32
    public var nameLength: UInt32
    public var type: EntryType
    /// The raw `st_mode`, including the file type bits.
    public var mode: UInt32
    public var time: Int64
    public var size: Int64
    public var device: UInt64
    public var inode: UInt64
    public var linkCount: UInt32
    /// False for a symlink kept only so a watcher can notice when its target appears or
    /// becomes readable (`ScanOptions.keepUnlistedSymlinks`); such an entry has no line.
    public var isListed: Bool = true

    public init(
        nameStart: UInt32, nameLength: UInt32, type: EntryType, mode: UInt32, time: Int64, size: Int64,
        device: UInt64, inode: UInt64, linkCount: UInt32, isListed: Bool = true
    ) {
        self.nameStart = nameStart
        self.nameLength = nameLength
        self.type = type
        self.mode = mode
        self.time = time
        self.size = size
        self.device = device
        self.inode = inode
        self.linkCount = linkCount
        self.isListed = isListed
    }

    public var nameRange: Range<Int> { Int(nameStart)..<Int(nameStart + nameLength) }

    /// Directories are walked into; symlinks to directories are not.
    public var isDirectory: Bool { type.kind == .directory }
}
