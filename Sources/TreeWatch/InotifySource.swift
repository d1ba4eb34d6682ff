import CLinuxFS
import Foundation
import LinuxCalls
import SystemPackage
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// inotify with one watch per directory: works for any user, on any local file system.
///
/// A watch is added when the scanner opens a directory (through `/proc/self/fd`, so it
/// lands on exactly the inode being read). Paths are kept per watch descriptor; a
/// directory that moves is forgotten and re-read at its new place, which re-adds the
/// same watch descriptor under the new path.
public final class InotifySource: EventSource {
    public let name = "inotify"
    public let fileDescriptor: FileDescriptor
    /// The watched tree, for a stat of each file an event names as the event is read:
    /// inotify names no inode, and a hard link made and removed before the daemon reads
    /// its directory changed the other names' ctime all the same.
    private let root: FileDescriptor?
    private let state = Mutex(Watches())
    private let firstFailure = Mutex<WatchError?>(nil)

    struct Watches: ~Copyable {
        var pathOf: [Int32: [UInt8]] = [:]
        var watchOf: [[UInt8]: Int32] = [:]
        /// Files whose creation was read after they were gone (no inode learned), until
        /// the event that took the name away is read: it is already queued behind.
        var unidentified: Set<[UInt8]> = []
    }

    /// Each unidentified name's removal is read within a read or two of its creation, so
    /// only names stat'ed under a directory's old path (it moved) pile up. More than this
    /// and they are dropped for a read of the whole tree, which is never wrong.
    static let unidentifiedLimit = 16_384

    /// No IN_DONT_FOLLOW: the watch goes through the `/proc/self/fd` magic link to the
    /// directory that was opened (itself opened with O_NOFOLLOW).
    static let mask: UInt32 =
        UInt32(IN_CREATE | IN_DELETE | IN_MODIFY | IN_ATTRIB | IN_MOVED_FROM | IN_MOVED_TO)
        | UInt32(IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

    /// `root` is the watched tree, whose files events name (nil: no inodes learned).
    public init(root: String? = nil) throws(WatchError) {
        do throws(SystemCallError) {
            fileDescriptor = try Linux.inotify()
        } catch {
            throw WatchError("inotify_init1: \(error.errno)")
        }
        guard let root else {
            self.root = nil
            return
        }
        do throws(SystemCallError) {
            self.root = try Linux.openat(nil, root, flags: O_RDONLY | O_DIRECTORY)
        } catch {
            try? fileDescriptor.close()
            throw WatchError("open(\(root)): \(error.errno)")
        }
    }

    deinit {
        try? fileDescriptor.close()
        try? root?.close()
    }

    public var watchCount: Int { state.withLock { $0.pathOf.count } }

    public var failure: WatchError? { firstFailure.withLock { $0 } }

    public func directoryOpened(_ directory: FileDescriptor, path: [UInt8]) {
        do {
            try watch(directory, path: path)
        } catch {
            firstFailure.withLock { if $0 == nil { $0 = error } }
        }
    }

    private func watch(_ directory: FileDescriptor, path: [UInt8]) throws(WatchError) {
        let procPath = "/proc/self/fd/\(directory.rawValue)"
        var added = Linux.addWatch(fileDescriptor, path: procPath, mask: Self.mask)
        if case .failure(.noSpace) = added, InotifyLimits.raiseWatchLimit() {
            added = Linux.addWatch(fileDescriptor, path: procPath, mask: Self.mask)
        }
        switch added {
        case .success(let wd):
            state.withLock { watches in
                if let old = watches.pathOf[wd], old != path { watches.watchOf[old] = nil }
                watches.pathOf[wd] = path
                watches.watchOf[path] = wd
            }
        case .failure(let error):
            if error == .noSpace {
                throw WatchError(
                    "inotify watch limit reached after \(watchCount) directories (at "
                        + "'\(String(decoding: path, as: UTF8.self))'): changes there would go unseen; raise the sysctl "
                        + "fs.inotify.max_user_watches (now \(InotifyLimits.maxUserWatches ?? 0))"
                        + InotifyLimits.namespaceNote + ", or run as root so filelistd can use fanotify")
            }
            throw WatchError("inotify_add_watch(\(String(decoding: path, as: UTF8.self))): \(error)")
        }
    }

    public func forget(subtree path: [UInt8]) {
        let doomed: [(Int32, [UInt8])] = state.withLock { watches in
            watches.watchOf.filter { key, _ in
                key == path || (key.count > path.count && key[path.count] == 0x2F && key.starts(with: path))
            }.map { ($0.value, $0.key) }
        }
        for (wd, watchedPath) in doomed {
            Linux.removeWatch(fileDescriptor, wd)
            state.withLock { watches in
                watches.pathOf[wd] = nil
                watches.watchOf[watchedPath] = nil
            }
        }
    }

    public func readEvents() throws(WatchError) -> [WatchEvent] {
        var events: [WatchEvent] = []
        try EventQueue.drain(fileDescriptor, name: "inotify") { records, count in
            var offset = 0
            while offset < count {
                let record = records + offset
                let wd = record.loadUnaligned(as: Int32.self)
                let mask = record.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
                let length = Int(record.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
                offset += 16 + length
                if mask & UInt32(IN_Q_OVERFLOW) != 0 {
                    events.append(.overflow)
                    continue
                }
                let directory = state.withLock { $0.pathOf[wd] }
                if mask & UInt32(IN_IGNORED) != 0 {
                    state.withLock { watches in
                        if let path = watches.pathOf.removeValue(forKey: wd), watches.watchOf[path] == wd {
                            watches.watchOf[path] = nil
                        }
                    }
                    if directory == [] { events.append(.rootRemoved) }
                    continue
                }
                guard let directory else { continue }
                if mask & UInt32(IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT) != 0 {
                    // The parent's watch reports the same change with a name; only the root
                    // has no watched parent.
                    if directory.isEmpty { events.append(.rootRemoved) }
                    continue
                }
                var name: [UInt8]?
                if length > 0 {
                    let bytes = UnsafeRawBufferPointer(start: record + 16, count: length)
                    name = Array(bytes.prefix { $0 != 0 })
                }
                let isDirectory = mask & UInt32(IN_ISDIR) != 0
                let left = mask & UInt32(IN_DELETE | IN_MOVED_FROM) != 0
                let inode = isDirectory || left ? nil : name.flatMap { fileInode(directory, $0) }
                events.append(
                    .changed(
                        directory: directory, name: name, isDirectory: isDirectory, leftDirectory: left, inode: inode))
                if let name, isDirectory, mask & UInt32(IN_CREATE | IN_MOVED_TO) != 0 {
                    watchNewDirectory(directory, name)
                }
                if let name, !isDirectory, root != nil,
                    let cameAndWent = trackUnidentified(directory, name, mask: mask, inodeKnown: inode != nil)
                {
                    events.append(cameAndWent)
                }
            }
        }
        return events
    }
}

extension InotifySource {
    /// `directory/name`, relative to the tree (`name` alone at its top).
    static func child(_ name: [UInt8], of directory: [UInt8]) -> [UInt8] {
        directory.isEmpty ? name : directory + [0x2F] + name
    }

    /// A hard link made and removed before its creation was read leaves no trace but the
    /// other names' new ctime, which inotify never reports (fanotify does). A name created
    /// and deleted unidentified is reported so that the tree is read again whole; one that
    /// was renamed away is found by the read of the directory it went to.
    private func trackUnidentified(
        _ directory: [UInt8], _ name: [UInt8], mask: UInt32, inodeKnown: Bool
    ) -> WatchEvent? {
        let path = Self.child(name, of: directory)
        return state.withLock { watches -> WatchEvent? in
            if mask & UInt32(IN_CREATE) != 0 && !inodeKnown {
                guard watches.unidentified.count < Self.unidentifiedLimit else {
                    watches.unidentified.removeAll()
                    return .overflow
                }
                watches.unidentified.insert(path)
            } else if mask & UInt32(IN_DELETE) != 0 && watches.unidentified.remove(path) != nil {
                return .nameCameAndWent(directory: directory, name: name)
            } else if mask & UInt32(IN_MOVED_FROM) != 0 {
                watches.unidentified.remove(path)
            }
            return nil
        }
    }

    /// A directory that appeared is watched as soon as its event is read, not when the
    /// daemon reads it (seconds later at millions of entries): a link made and removed in
    /// it meanwhile would raise no event at all. Its entries are read by the daemon all
    /// the same; a failure here is left for that read to report.
    private func watchNewDirectory(_ directory: [UInt8], _ name: [UInt8]) {
        guard let root else { return }
        let path = Self.child(name, of: directory)
        var terminated = path
        terminated.append(0)
        let opened = terminated.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { pointer in
                try? Linux.openDirectory(root, pointer.baseAddress!, displayPath: "")
            }
        }
        guard let opened else { return }
        defer { try? opened.close() }
        try? watch(opened, path: path)
    }

    /// The inode of the file `directory/name` now, if it is there and not a directory.
    func fileInode(_ directory: [UInt8], _ name: [UInt8]) -> UInt64? {
        guard let root else { return nil }
        var path = Self.child(name, of: directory)
        path.append(0)
        var info = qm_stat()
        let error = path.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) {
                Linux.statx(root, $0.baseAddress!, followSymlink: false, into: &info)
            }
        }
        guard error == nil, info.mode & UInt32(S_IFMT) != UInt32(S_IFDIR) else { return nil }
        return info.inode
    }
}

/// `fs.inotify.max_user_watches`: the limit on watches per user.
public enum InotifyLimits {
    static let path = "/proc/sys/fs/inotify/max_user_watches"

    public static var maxUserWatches: Int? {
        (try? String(contentsOfFile: path, encoding: .utf8)).flatMap {
            Int($0.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    /// In a user namespace, `/proc/sys/user/max_inotify_watches` may set a lower limit
    /// (for this namespace and those below it) than the sysctl shows.
    static var namespaceNote: String {
        let path = "/proc/sys/user/max_inotify_watches"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
            let limit = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)),
            limit < (maxUserWatches ?? Int.max)
        else { return "" }
        return " and \(path) of this user namespace (now \(limit))"
    }

    /// Doubles the limit when running as root; returns whether it did.
    static func raiseWatchLimit() -> Bool {
        guard Linux.isSuperuser, let current = maxUserWatches else { return false }
        return (try? String(current * 2).write(toFile: path, atomically: false, encoding: .utf8)) != nil
    }
}
