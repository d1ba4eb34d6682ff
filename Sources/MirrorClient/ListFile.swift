import FileList
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Reading list files: a list of a million entries is ~100 MB, read once into the
/// array the parser keeps, without Foundation's intermediate copy.
public enum ListFile {
    public static func read(_ path: String) throws(SyncError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SyncError("cannot read '\(path)': \(Errno(rawValue: errno))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw SyncError("cannot read '\(path)': \(Errno(rawValue: errno))") }
        let size = Int(info.st_size)
        var failure: Errno?
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            count = 0
            HugePages.advise(UnsafeMutableRawBufferPointer(buffer))
            while count < size {
                let n = Glibc.read(fd, buffer.baseAddress! + count, size - count)
                if n < 0 && errno == EINTR { continue }
                if n < 0 { failure = Errno(rawValue: errno) }
                if n <= 0 { break }
                count += n
            }
        }
        if let failure { throw SyncError("cannot read '\(path)': \(failure)") }
        return bytes
    }

    /// Reads a list from its start in pieces, for readers that do not hold it (the old
    /// list, compared with the new one): a function that fills a buffer and returns the
    /// number of bytes read, 0 at the end, -1 on an error. Nil if the file cannot be opened.
    public static func pieces(_ path: String) -> ((UnsafeMutableRawBufferPointer) -> Int)? {
        guard let file = OpenFile(path) else { return nil }
        return { buffer in file.read(into: buffer) }
    }

    /// Whether the file holds exactly `bytes`, read in pieces.
    public static func contentsEqual(_ path: String, _ bytes: [UInt8]) -> Bool {
        guard let file = OpenFile(path) else { return false }
        let piece = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { piece.deallocate() }
        var offset = 0
        return bytes.withUnsafeBytes { expected in
            while true {
                let count = file.read(into: piece)
                if count < 0 { return false }
                if count == 0 { return offset == expected.count }
                guard offset + count <= expected.count,
                    memcmp(piece.baseAddress!, expected.baseAddress! + offset, count) == 0
                else { return false }
                offset += count
            }
        }
    }

    /// A descriptor read forward, closed with the last reference to it.
    private final class OpenFile: @unchecked Sendable {
        let fd: Int32
        var offset: off_t = 0

        init?(_ path: String) {
            fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return nil }
        }

        deinit { close(fd) }

        func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
            while true {
                let count = pread(fd, buffer.baseAddress, buffer.count, offset)
                if count < 0 && errno == EINTR { continue }
                if count > 0 { offset += off_t(count) }
                return count < 0 ? -1 : count
            }
        }
    }
}
