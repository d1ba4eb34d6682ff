import CLinuxFS
import Foundation
import Synchronization
import LinuxCalls
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// fanotify with one `FAN_MARK_FILESYSTEM` mark: no per-directory watches, no limit to
/// raise, no race with directories created during the scan. Needs CAP_SYS_ADMIN (and
/// CAP_DAC_READ_SEARCH for open_by_handle_at) and a file system with an fsid.
///
/// The mark reports every change on the file system, so events are filtered to the tree
/// in user space: each event names its directory by file handle, which is resolved to a
/// path once per batch and cached until a directory moves. Events also carry the
/// object's own handle (Linux 5.17 and later), which names its inode: the one fact that
/// leads from a name made and removed between two reads of its directory to the other
/// names of the same file.
public final class FanotifySource: EventSource {
    public let name = "fanotify"
    public let fileDescriptor: FileDescriptor
    /// Whether events name their object (FAN_REPORT_TARGET_FID): without it, the inode of
    /// a short-lived hard link is learned only if it still exists when its event is read.
    public let reportsObjects: Bool
    public var reportsLinkCountChanges: Bool { reportsObjects }
    private let root: String
    private let rootName: [UInt8]
    private let mountFD: FileDescriptor
    private let cache = Mutex<[[UInt8]: [UInt8]?]>([:])
    /// Handle types whose bytes start with the inode number on this file system (checked
    /// on the root's own handle): the rest are opened to learn it.
    private let decodableHandleType: Int32?

    public init(root: String) throws(WatchError) {
        self.root = root
        rootName = Array((root.split(separator: "/").last ?? "").utf8)
        let group: FileDescriptor
        let objects: Bool
        let mount: FileDescriptor
        do throws(SystemCallError) {
            (group, objects) = try Linux.fanotifyFileSystem(of: root)
            do {
                mount = try Linux.openat(nil, root, flags: O_RDONLY | O_DIRECTORY)
            } catch {
                try? group.close()
                throw error
            }
        } catch {
            throw WatchError("\(error.call)(\(root)): \(error.errno)")
        }
        fileDescriptor = group
        mountFD = mount
        reportsObjects = objects
        decodableHandleType = Self.decodableHandleType(of: mountFD)
    }

    deinit {
        try? fileDescriptor.close()
        try? mountFD.close()
    }

    public var watchCount: Int { 0 }

    public func directoryOpened(_ directory: FileDescriptor, path: [UInt8]) {}

    /// One mark covers every directory.
    public var failure: WatchError? { nil }

    public func forget(subtree path: [UInt8]) { cache.withLock { $0.removeAll() } }

    public func readEvents() throws(WatchError) -> [WatchEvent] {
        var events: [WatchEvent] = []
        try EventQueue.drain(fileDescriptor, name: "fanotify") { records, count in
            var offset = 0
            var event = qm_fan_event()
            while qm_fanotify_next(records, count, &offset, &event) == 1 {
                if event.mask & UInt64(QM_FAN_Q_OVERFLOW) != 0 {
                    events.append(.overflow)
                    continue
                }
                let isDirectory = event.mask & UInt64(QM_FAN_ONDIR) != 0
                // The parent reports the same change with a name; the daemon checks the root
                // itself after every batch.
                if event.mask & UInt64(QM_FAN_DELETE_SELF | QM_FAN_MOVE_SELF) != 0 { continue }
                let inode = isDirectory ? nil : event.object_handle.flatMap(inode(of:))
                guard let handle = event.directory_handle else {
                    // No directory to name it: a link count change (a name of this file
                    // made or removed elsewhere). Inodes outside the tree match nothing.
                    if let inode { events.append(.inodeChanged(inode)) }
                    continue
                }
                if isDirectory && event.mask & UInt64(QM_FAN_DELETE | QM_FAN_MOVED_FROM) != 0 {
                    // Cached paths below a directory that moved are stale.
                    cache.withLock { $0.removeAll() }
                }
                let handleKey = Array(UnsafeRawBufferPointer(start: handle, count: event.directory_handle_length))
                var name = event.name.map { Array(UnsafeBufferPointer(start: $0, count: event.name_length)) }
                if name == [0x2E] { name = nil }
                guard let directory = resolve(handleKey) else {
                    if name == rootName {
                        // The root itself removed or renamed: its parent is outside the tree.
                        events.append(.changed(directory: [], name: nil, isDirectory: true, leftDirectory: false))
                    } else if let inode {
                        // A name outside the tree may be another name of a file inside it
                        // (another module's, a staging area's): a write or chmod through
                        // it changes their lines. An inode the index lacks matches nothing.
                        events.append(.inodeChanged(inode))
                    }
                    continue
                }
                let left = event.mask & UInt64(QM_FAN_DELETE | QM_FAN_MOVED_FROM) != 0
                // Before 5.17 the kernel names no object: the file is stat'ed while it is
                // (most likely) still there, as inotify's are.
                let stated = reportsObjects || isDirectory || left ? nil : name.flatMap { fileInode(directory, $0) }
                events.append(
                    .changed(
                        directory: directory, name: name, isDirectory: isDirectory, leftDirectory: left,
                        inode: inode ?? stated))
            }
        }
        return events
    }

    /// The inode a file handle names: read from its bytes where this file system's layout
    /// is known, else by opening it (nil when the file is gone: no name of it is left to
    /// change).
    private func inode(of handle: UnsafeRawPointer) -> UInt64? {
        let type = handle.loadUnaligned(fromByteOffset: 4, as: Int32.self)
        if type == decodableHandleType {
            let inode = qm_handle_inode(handle)
            if inode != 0 { return inode }
        }
        guard let fd = Linux.openByHandle(handle, on: mountFD) else { return nil }
        defer { try? fd.close() }
        guard let info = try? Linux.fstat(fd, displayPath: "handle") else { return nil }
        return UInt64(info.st_ino)
    }

    /// The inode of the file `directory/name` now, if it is there and not a directory.
    private func fileInode(_ directory: [UInt8], _ name: [UInt8]) -> UInt64? {
        var path = directory
        if !path.isEmpty { path.append(0x2F) }
        path += name
        path.append(0)
        var info = qm_stat()
        let error = path.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) {
                Linux.statx(mountFD, $0.baseAddress!, followSymlink: false, into: &info)
            }
        }
        guard error == nil, info.mode & UInt32(S_IFMT) != UInt32(S_IFDIR) else { return nil }
        return info.inode
    }

    /// The root's handle type, if decoding its bytes gives the root's inode number: the
    /// layout `qm_handle_inode` knows is then this file system's.
    private static func decodableHandleType(of root: FileDescriptor) -> Int32? {
        var type: Int32 = 0
        var decoded: UInt64 = 0
        guard qm_name_to_handle_inode(root.rawValue, &type, &decoded) == 0,
            let info = try? Linux.fstat(root, displayPath: "root"), decoded == UInt64(info.st_ino)
        else { return nil }
        return type
    }

    /// The path of a directory handle relative to the root, or nil outside the tree (or
    /// gone: the parent's own event covers a removed directory).
    private func resolve(_ handle: [UInt8]) -> [UInt8]? {
        if let cached = cache.withLock({ $0[handle] }) { return cached }
        let fd = handle.withUnsafeBytes { Linux.openByHandle($0.baseAddress!, on: mountFD) }
        var result: [UInt8]?
        if let fd {
            defer { try? fd.close() }
            // The kernel's own name for what the descriptor holds: the directory's path now.
            if let path = Linux.readLink("/proc/self/fd/\(fd.rawValue)") {
                let rootBytes = Array(root.utf8)
                if path == rootBytes {
                    result = []
                } else if path.count > rootBytes.count + 1, path.starts(with: rootBytes), path[rootBytes.count] == 0x2F
                {
                    result = Array(path[(rootBytes.count + 1)...])
                }
            }
        }
        cache.withLock { cache in
            if cache.count > 100_000 { cache.removeAll() }
            cache[handle] = .some(result)
        }
        return result
    }
}
