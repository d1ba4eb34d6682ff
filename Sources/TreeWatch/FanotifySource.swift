import CLinuxFS
import Foundation
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
/// path once per batch and cached until a directory moves.
public final class FanotifySource: EventSource {
    public let name = "fanotify"
    public let fileDescriptor: FileDescriptor
    private let root: String
    private let rootName: [UInt8]
    private let mountFD: FileDescriptor
    private let cache = Mutex<[[UInt8]: [UInt8]?]>([:])

    public init(root: String) throws(WatchError) {
        self.root = root
        rootName = Array((root.split(separator: "/").last ?? "").utf8)
        let fd = qm_fanotify_init()
        guard fd >= 0 else { throw WatchError("fanotify_init: \(Errno(rawValue: errno))") }
        guard qm_fanotify_mark_filesystem(fd, root) == 0 else {
            let error = Errno(rawValue: errno)
            close(fd)
            throw WatchError("fanotify_mark(\(root)): \(error)")
        }
        let mount = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard mount >= 0 else {
            close(fd)
            throw WatchError("open(\(root)): \(Errno(rawValue: errno))")
        }
        fileDescriptor = FileDescriptor(rawValue: fd)
        mountFD = FileDescriptor(rawValue: mount)
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
            while offset + 24 <= count {
                let event = records + offset
                let length = Int(event.loadUnaligned(as: UInt32.self))
                let metadataLength = Int(event.loadUnaligned(fromByteOffset: 6, as: UInt16.self))
                let mask = event.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
                let fd = event.loadUnaligned(fromByteOffset: 16, as: Int32.self)
                if fd >= 0 { close(fd) }
                defer { offset += max(length, 24) }
                if mask & UInt64(QM_FAN_Q_OVERFLOW) != 0 {
                    events.append(.overflow)
                    continue
                }
                let isDirectory = mask & UInt64(QM_FAN_ONDIR) != 0
                // The parent reports the same change with a name; the daemon checks the root
                // itself after every batch.
                if mask & UInt64(QM_FAN_DELETE_SELF | QM_FAN_MOVE_SELF) != 0 { continue }
                if isDirectory && mask & UInt64(QM_FAN_DELETE | QM_FAN_MOVED_FROM) != 0 {
                    // Cached paths below a directory that moved are stale.
                    cache.withLock { $0.removeAll() }
                }
                // Info records follow the metadata: header (type, pad, length), fsid, file handle, name.
                var info = metadataLength
                while info + 4 <= length {
                    let record = event + info
                    let type = record.load(as: UInt8.self)
                    let recordLength = Int(record.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
                    defer { info += max(recordLength, 4) }
                    guard type == QM_FAN_INFO_DFID_NAME || type == QM_FAN_INFO_DFID else { continue }
                    let handle = record + 12
                    let handleBytes = Int(handle.loadUnaligned(as: UInt32.self))
                    let handleKey = Array(UnsafeRawBufferPointer(start: handle, count: 8 + handleBytes))
                    var name: [UInt8]?
                    if type == QM_FAN_INFO_DFID_NAME {
                        let nameStart = (handle + 8 + handleBytes).assumingMemoryBound(to: CChar.self)
                        name = Array(UnsafeRawBufferPointer(start: nameStart, count: strlen(nameStart)))
                        if name == [0x2E] { name = nil }
                    }
                    guard let directory = resolve(handleKey) else {
                        // The root itself removed or renamed: its parent is outside the tree.
                        if name == rootName {
                            events.append(.changed(directory: [], name: nil, isDirectory: true, leftDirectory: false))
                        }
                        continue
                    }
                    events.append(
                        .changed(
                            directory: directory, name: name, isDirectory: isDirectory,
                            leftDirectory: mask & UInt64(QM_FAN_DELETE | QM_FAN_MOVED_FROM) != 0))
                }
            }
        }
        return events
    }

    /// The path of a directory handle relative to the root, or nil outside the tree (or
    /// gone: the parent's own event covers a removed directory).
    private func resolve(_ handle: [UInt8]) -> [UInt8]? {
        if let cached = cache.withLock({ $0[handle] }) { return cached }
        let fd = handle.withUnsafeBytes { qm_open_by_handle(mountFD.rawValue, $0.baseAddress) }
        var result: [UInt8]?
        if fd >= 0 {
            defer { close(fd) }
            var target = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let length = readlink("/proc/self/fd/\(fd)", &target, target.count - 1)
            if length > 0 {
                let path = target[..<length].map { UInt8(bitPattern: $0) }
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

import Synchronization
