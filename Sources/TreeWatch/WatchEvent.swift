import SystemPackage

/// What an event source reports, already reduced to what the index needs to know.
public enum WatchEvent: Sendable, Equatable {
    /// Something changed in `directory` (relative to the root), about its child `name`
    /// when the kernel named one. `inode` is the inode of a child that is not a
    /// directory, when the source knows it: its other names (hard links) changed too.
    case changed(directory: [UInt8], name: [UInt8]?, isDirectory: Bool, leftDirectory: Bool, inode: UInt64? = nil)
    /// The attributes of a file changed with no directory entry to name it: a link count
    /// change, from a name of it made or removed somewhere. Every indexed name of that
    /// inode has a new ctime.
    case inodeChanged(UInt64)
    /// A name was made and removed again before its inode could be learned (inotify names
    /// no inode, and a stat of the name found nothing). If it was a hard link, another
    /// name's ctime changed with no event for it, and only a read of the whole tree finds
    /// which.
    case nameCameAndWent(directory: [UInt8], name: [UInt8])
    /// The kernel dropped events: everything may have changed.
    case overflow
    /// The watched root was removed, moved away or unmounted.
    case rootRemoved
}

/// A kernel event source: inotify with a watch per directory, or fanotify with one mark
/// for the whole file system. The daemon polls `fileDescriptor` and reads events when it
/// is readable.
public protocol EventSource: AnyObject, Sendable {
    /// `inotify` or `fanotify`, for logs and status.
    var name: String { get }
    var fileDescriptor: FileDescriptor { get }
    /// Called on a walker thread right after a directory is opened and before it is
    /// read, so an entry created afterwards is either read or reported. A directory that
    /// cannot be watched does not stop the walk: the source keeps the first such failure
    /// in `failure`, which its owner must check after every scan.
    func directoryOpened(_ directory: FileDescriptor, path: [UInt8])
    /// The first directory that could not be watched (the inotify watch limit): changes
    /// there go unseen from then on, so the list can no longer be kept true.
    var failure: WatchError? { get }
    /// The events queued so far; never blocks.
    func readEvents() throws(WatchError) -> [WatchEvent]
    /// A directory left the tree (removed or moved): stop watching it and below.
    func forget(subtree path: [UInt8])
    /// Directories watched one by one (inotify); 0 for a file system mark.
    var watchCount: Int { get }
    /// Whether a file's link count changing through another name is reported with its
    /// inode wherever that name is, from the start (fanotify's file system mark, on
    /// kernels that name the object). Otherwise a walk must look again at names whose
    /// other names it may have missed (`ChangeTracker.noteUnsettledLinks`).
    var reportsLinkCountChanges: Bool { get }
}

extension EventSource {
    public var reportsLinkCountChanges: Bool { false }
}

public struct WatchError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
