import Crypto
import Foundation
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// One version of a published list, held open: a response that started on it is served
/// whole from it even after a newer list is renamed over the path.
public final class ListVersion: Sendable {
    /// The path below the served root, as clients ask for it.
    public let path: String
    /// The SHA-256 of the content, hex: the same bytes get the same ETag on every
    /// server and across restarts.
    public let digest: String
    public let size: Int
    public let modified: Date
    let identity: FileIdentity
    private let descriptor: Int32

    /// The ETag header value.
    public var etag: String { "\"\(digest)\"" }

    init(path: String, descriptor: Int32, identity: FileIdentity, digest: String, size: Int, modified: Date) {
        self.path = path
        self.descriptor = descriptor
        self.identity = identity
        self.digest = digest
        self.size = size
        self.modified = modified
    }

    deinit { close(descriptor) }

    /// Opens `file` and hashes it, unless it is still `current`'s file.
    static func open(_ file: String, path: String, unless current: ListVersion?) throws(ListServiceError) -> (
        ListVersion, [UInt8]
    )? {
        let fd = Glibc.open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ListServiceError("cannot open list '\(file)': \(Errno(rawValue: errno))") }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            close(fd)
            throw ListServiceError("cannot stat list '\(file)': \(Errno(rawValue: errno))")
        }
        let identity = FileIdentity(info)
        if let current, current.identity == identity {
            close(fd)
            return nil
        }
        let bytes: [UInt8]
        do {
            bytes = try read(fd, size: Int(info.st_size), name: file)
        } catch {
            close(fd)
            throw error
        }
        let digest = SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
        let modified = Date(timeIntervalSince1970: TimeInterval(info.st_mtim.tv_sec))
        return (
            ListVersion(
                path: path, descriptor: fd, identity: identity, digest: digest, size: bytes.count, modified: modified),
            bytes
        )
    }

    /// The whole content again (to compute a delta from the previous version).
    func bytes() throws(ListServiceError) -> [UInt8] { try Self.read(descriptor, size: size, name: path) }

    /// Up to `count` bytes from `offset`; an empty array at the end.
    func chunk(at offset: Int, count: Int) throws(ListServiceError) -> [UInt8] {
        try Self.read(descriptor, size: min(count, size - offset), at: offset, name: path)
    }

    private static func read(_ fd: Int32, size: Int, at start: Int = 0, name: String) throws(ListServiceError)
        -> [UInt8]
    {
        var failure: Errno?
        let bytes = [UInt8](unsafeUninitializedCapacity: max(size, 0)) { buffer, count in
            count = 0
            while count < size {
                let n = pread(fd, buffer.baseAddress! + count, size - count, off_t(start + count))
                if n < 0 && errno == EINTR { continue }
                if n < 0 { failure = Errno(rawValue: errno) }
                if n <= 0 { break }
                count += n
            }
        }
        if let failure { throw ListServiceError("cannot read list '\(name)': \(failure)") }
        guard bytes.count == size else { throw ListServiceError("list '\(name)' shrank while it was read") }
        return bytes
    }
}

/// Which file a path named: a new list is a new inode (it is renamed into place).
struct FileIdentity: Equatable, Sendable {
    var device: UInt64
    var inode: UInt64
    var size: Int64
    var modified: Int

    init(_ info: stat) {
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        size = Int64(info.st_size)
        modified = info.st_mtim.tv_sec * 1_000_000_000 + info.st_mtim.tv_nsec
    }
}

public struct ListServiceError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
