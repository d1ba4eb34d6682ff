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
}
