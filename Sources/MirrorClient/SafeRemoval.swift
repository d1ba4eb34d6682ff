import LinuxCalls
import SystemPackage

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
        var directory = root
        var opened: [FileDescriptor] = []
        defer { for fd in opened { try? fd.close() } }
        for component in components.dropLast() {
            let parent = directory.rawValue
            let next = withCString(component) { openat(parent, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            if next < 0 {
                if errno == ENOENT { return .absent }
                throw SystemCallError(
                    "open", path: String(decoding: path, as: UTF8.self), errno: Errno(rawValue: errno))
            }
            directory = FileDescriptor(rawValue: next)
            opened.append(directory)
        }
        let parent = directory.rawValue
        var info = stat()
        if withCString(last, { fstatat(parent, $0, &info, AT_SYMLINK_NOFOLLOW) }) != 0 { return .absent }
        let isDirectory = info.st_mode & S_IFMT == S_IFDIR
        if withCString(last, { unlinkat(parent, $0, isDirectory ? AT_REMOVEDIR : 0) }) == 0 { return .removed }
        if errno == ENOTEMPTY || errno == EEXIST { return .notEmpty }
        if errno == ENOENT { return .absent }
        throw SystemCallError("unlink", path: String(decoding: path, as: UTF8.self), errno: Errno(rawValue: errno))
    }

    /// Names are bytes that need not be UTF-8; they go to the kernel as they are.
    private func withCString<R>(_ bytes: [UInt8], _ body: (UnsafePointer<CChar>) -> R) -> R {
        (bytes + [0]).withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { body($0.baseAddress!) }
        }
    }
}
