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

    /// Names are bytes that need not be UTF-8; they go to the kernel as they are.
    private func withCString<R>(_ bytes: [UInt8], _ body: (UnsafePointer<CChar>) -> R) -> R {
        (bytes + [0]).withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { body($0.baseAddress!) }
        }
    }
}
