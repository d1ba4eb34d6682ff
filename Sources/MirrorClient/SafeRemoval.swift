import LinuxCalls
import SystemPackage
import TreeScan

#if canImport(Glibc)
    import Glibc
#endif

/// Removes paths below the mirror root without ever following a symlink on the way:
/// each directory is opened with O_NOFOLLOW relative to its parent, so a path from the
/// network cannot reach outside the root even through a link planted in the mirror.
struct SafeRemoval {
    let root: FileDescriptor

    enum Outcome { case removed, absent, notEmpty }

    func remove(_ path: [UInt8]) throws(SystemCallError) -> Outcome {
        let components = path.split(separator: 0x2F).map(Array.init)
        guard let last = components.last else { return .absent }
        let display = String(decoding: path, as: UTF8.self)
        var directory = root
        var opened: [FileDescriptor] = []
        defer { for fd in opened { try? fd.close() } }
        for component in components.dropLast() {
            let parent = directory
            let next = withCString(component) { name in
                Result { () throws(SystemCallError) in try Linux.openDirectory(parent, name, displayPath: display) }
            }
            switch next {
            case .success(let fd):
                directory = fd
                opened.append(fd)
            case .failure(let error) where error.errno == .noSuchFileOrDirectory:
                return .absent
            case .failure(let error):
                throw error
            }
        }
        let parent = directory
        guard case .success(let info) = withCString(last, { Linux.lstat($0, in: parent) }) else { return .absent }
        let isDirectory = info.st_mode & S_IFMT == S_IFDIR
        switch withCString(last, { Linux.remove($0, in: parent, isDirectory: isDirectory) }) {
        case nil: return .removed
        case .directoryNotEmpty?, .fileExists?: return .notEmpty
        case .noSuchFileOrDirectory?: return .absent
        case let error?: throw SystemCallError("unlink", path: display, errno: error)
        }
    }

    /// Removes every `.~tmp~` below `path` (bytes, relative to the root; empty for the
    /// root itself) with what it holds: the staging directories of an rsync
    /// --delay-updates that did not finish (killed, a full disk, a link that timed out).
    /// A finished rsync removes its own, and none of ours runs while a run holds the
    /// lock, so what is left is stale: kept, it would use the space of the files it holds
    /// for good, and keep a directory that upstream removed from being deleted. Never
    /// follows a symlink; returns how many staging directories it removed.
    func sweepStaging(below path: [UInt8]) -> Int {
        let start: Int32
        if path.isEmpty {
            start = dup(root.rawValue)
        } else {
            start = withCString(path) { openat(root.rawValue, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        }
        guard start >= 0 else { return 0 }
        return sweep(directory: start)
    }

    /// Takes `fd` (an open directory) and closes it.
    private func sweep(directory fd: Int32) -> Int {
        guard let stream = fdopendir(fd) else {
            close(fd)
            return 0
        }
        defer { closedir(stream) }
        var subdirectories: [[UInt8]] = []
        var staging = false
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                Array(raw.prefix(while: { $0 != 0 }))
            }
            if name == [0x2E] || name == [0x2E, 0x2E] { continue }
            var isDirectory = entry.pointee.d_type == UInt8(DT_DIR)
            if entry.pointee.d_type == UInt8(DT_UNKNOWN) {
                var info = stat()
                isDirectory =
                    withCString(name, { fstatat(fd, $0, &info, AT_SYMLINK_NOFOLLOW) }) == 0
                    && info.st_mode & S_IFMT == S_IFDIR
            }
            guard isDirectory else { continue }
            if name == EntryRules.delayUpdatesDirectory { staging = true } else { subdirectories.append(name) }
        }
        var removed = 0
        if staging, removeTree(EntryRules.delayUpdatesDirectory, in: fd) { removed += 1 }
        for name in subdirectories {
            let child = withCString(name) { openat(fd, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            if child >= 0 { removed += sweep(directory: child) }
        }
        return removed
    }

    /// Removes `name` in `parent` and everything below it, without following symlinks.
    private func removeTree(_ name: [UInt8], in parent: Int32) -> Bool {
        let fd = withCString(name) { openat(parent, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else { return false }
        if let stream = fdopendir(fd) {
            var names: [[UInt8]] = []
            while let entry = readdir(stream) {
                let child = withUnsafeBytes(of: entry.pointee.d_name) { raw in Array(raw.prefix(while: { $0 != 0 })) }
                if child != [0x2E] && child != [0x2E, 0x2E] { names.append(child) }
            }
            for child in names where withCString(child, { unlinkat(fd, $0, 0) }) != 0 && errno == EISDIR {
                _ = removeTree(child, in: fd)
            }
            closedir(stream)
        } else {
            close(fd)
        }
        return withCString(name) { unlinkat(parent, $0, AT_REMOVEDIR) } == 0
    }

    /// Names are bytes that need not be UTF-8; they go to the kernel as they are.
    private func withCString<R>(_ bytes: [UInt8], _ body: (UnsafePointer<CChar>) -> R) -> R {
        (bytes + [0]).withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { body($0.baseAddress!) }
        }
    }
}
