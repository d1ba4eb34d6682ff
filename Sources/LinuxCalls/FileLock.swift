import SystemPackage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// An exclusive `flock(2)` held for the life of the value: the project's one lock type.
///
/// The kernel drops the lock when the process dies, so a crash never leaves a stale
/// lock behind. A lock can be taken on a file (created if missing; nothing is written
/// in it) or on any descriptor, such as a tree's top directory, which writes nothing at
/// all in the tree. When it is held elsewhere, the holder's pid is read from
/// `/proc/locks`, so an operator is told which process to look at.
public struct FileLock: ~Copyable {
    public let descriptor: FileDescriptor
    private let ownsDescriptor: Bool

    /// Why a lock could not be taken.
    public enum Failure: Error, CustomStringConvertible {
        /// Another open file description holds it; `holder` is its pid when the kernel says.
        case held(path: String, holder: pid_t?)
        case system(SystemCallError)

        public var description: String {
            switch self {
            case .held(let path, let holder):
                return "\(path) is locked by " + (holder.map { "pid \($0)" } ?? "another process")
            case .system(let error):
                return error.description
            }
        }
    }

    /// Locks the file at `path`, creating it (mode 0644) when it does not exist.
    public init(path: String) throws(Failure) {
        let fd: FileDescriptor
        do {
            fd = try Linux.openat(nil, path, flags: O_RDWR | O_CREAT, mode: 0o644)
        } catch {
            throw .system(error)
        }
        do {
            try Self.lock(fd, path: path)
        } catch {
            try? fd.close()
            throw error
        }
        descriptor = fd
        ownsDescriptor = true
    }

    /// Locks an open descriptor (for example `O_RDONLY | O_DIRECTORY` on a tree). The
    /// caller keeps ownership of `descriptor` and must keep it open while the lock is held.
    public init(descriptor: FileDescriptor, displayPath: String) throws(Failure) {
        try Self.lock(descriptor, path: displayPath)
        self.descriptor = descriptor
        ownsDescriptor = false
    }

    deinit {
        if ownsDescriptor { try? descriptor.close() }
    }

    private static func lock(_ fd: FileDescriptor, path: String) throws(Failure) {
        let (_, error) = Linux.retrying { flock(fd.rawValue, LOCK_EX | LOCK_NB) }
        guard let error else { return }
        guard error == .wouldBlock else { throw .system(SystemCallError("flock", path: path, errno: error)) }
        throw .held(path: path, holder: holder(of: fd))
    }

    /// The pid that `/proc/locks` names for a FLOCK on the same inode, if any.
    ///
    /// Lines look like `1: FLOCK  ADVISORY  WRITE 1234 08:02:131090 0 EOF`; a lock inherited
    /// across fork names the process that took it.
    public static func holder(of fd: FileDescriptor) -> pid_t? {
        var status = stat()
        guard Glibc.fstat(fd.rawValue, &status) == 0,
            let text = try? readSmallFile("/proc/locks")
        else { return nil }
        // glibc's major()/minor() are macros Swift cannot call: the same bit layout by hand.
        let device = UInt64(status.st_dev)
        let major = UInt32(truncatingIfNeeded: ((device >> 8) & 0xfff) | ((device >> 32) & ~0xfff))
        let minor = UInt32(truncatingIfNeeded: (device & 0xff) | ((device >> 12) & ~0xff))
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, fields[1] == "FLOCK" else { continue }
            let identity = fields[5].split(separator: ":")
            guard identity.count == 3,
                UInt32(identity[0], radix: 16) == major,
                UInt32(identity[1], radix: 16) == minor,
                UInt64(identity[2]) == UInt64(status.st_ino),
                let pid = pid_t(fields[4])
            else { continue }
            return pid
        }
        return nil
    }

    private static func readSmallFile(_ path: String) throws(SystemCallError) -> String {
        let fd = try Linux.openat(nil, path, flags: O_RDONLY)
        defer { try? fd.close() }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let (count, error) = Linux.retrying {
                chunk.withUnsafeMutableBytes { Glibc.read(fd.rawValue, $0.baseAddress, $0.count) }
            }
            if let error { throw SystemCallError("read", path: path, errno: error) }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
