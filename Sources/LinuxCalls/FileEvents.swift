import CLinuxFS
import SystemPackage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The kernel's file-event interfaces: fanotify, one mark for a whole file system, and
/// inotify, one watch per directory. Their records are read with `read(2)` and parsed by
/// the sources (fanotify's variable-length info records in CLinuxFS).
extension Linux {
    /// A nonblocking fanotify group with a `FAN_MARK_FILESYSTEM` mark on the file system
    /// holding `path`, and whether its events name their object (`FAN_REPORT_TARGET_FID`,
    /// Linux 5.17 and later).
    public static func fanotifyFileSystem(of path: String) throws(SystemCallError) -> (
        FileDescriptor, reportsObjects: Bool
    ) {
        var objects: Int32 = 0
        let (fd, error) = retrying { qm_fanotify_init(&objects) }
        if let error { throw SystemCallError("fanotify_init", path: path, errno: error) }
        let group = FileDescriptor(rawValue: fd)
        if let error = retrying({ qm_fanotify_mark_filesystem(fd, path) }).1 {
            try? group.close()
            throw SystemCallError("fanotify_mark", path: path, errno: error)
        }
        return (group, objects != 0)
    }

    /// The file a handle names (`open_by_handle_at(2)`, `O_PATH`), found through any
    /// descriptor on its file system; nil when it is gone.
    public static func openByHandle(_ handle: UnsafeRawPointer, on fileSystem: FileDescriptor) -> FileDescriptor? {
        let (fd, error) = retrying { qm_open_by_handle(fileSystem.rawValue, handle) }
        return error == nil ? FileDescriptor(rawValue: fd) : nil
    }

    /// A nonblocking, close-on-exec inotify instance.
    public static func inotify() throws(SystemCallError) -> FileDescriptor {
        let (fd, error) = retrying { Glibc.inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC)) }
        if let error { throw SystemCallError("inotify_init1", path: "-", errno: error) }
        return FileDescriptor(rawValue: fd)
    }

    /// Adds (or updates) the watch of `path`: its watch descriptor, or the errno, which
    /// the caller reads (`ENOSPC`: the per-user limit).
    public static func addWatch(_ inotify: FileDescriptor, path: String, mask: UInt32) -> Result<Int32, Errno> {
        let (wd, error) = retrying { Glibc.inotify_add_watch(inotify.rawValue, path, mask) }
        if let error { return .failure(error) }
        return .success(wd)
    }

    /// Removes a watch; one the kernel already dropped (its directory is gone) is no error.
    public static func removeWatch(_ inotify: FileDescriptor, _ wd: Int32) {
        _ = retrying { Glibc.inotify_rm_watch(inotify.rawValue, wd) }
    }
}
