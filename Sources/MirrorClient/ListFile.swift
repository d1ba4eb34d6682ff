import FileList
import LinuxCalls
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Reading list files: a list of a million entries is ~100 MB, read once into the
/// array the parser keeps, without Foundation's intermediate copy.
public enum ListFile {
    public static func read(_ path: String) throws(SyncError) -> [UInt8] {
        do throws(SystemCallError) {
            let fd = try Linux.openat(nil, path, flags: O_RDONLY)
            defer { try? fd.close() }
            let size = Int(try Linux.fstat(fd, displayPath: path).st_size)
            var failure: SystemCallError?
            let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
                count = 0
                HugePages.advise(UnsafeMutableRawBufferPointer(buffer))
                while count < size {
                    let rest = UnsafeMutableRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(buffer)[count...])
                    do throws(SystemCallError) {
                        let n = try Linux.read(fd, into: rest, displayPath: path)
                        if n == 0 { break }
                        count += n
                    } catch {
                        failure = error
                        break
                    }
                }
            }
            if let failure { throw failure }
            return bytes
        } catch {
            throw SyncError("cannot read '\(path)': \(error.errno)")
        }
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
        let fd: FileDescriptor
        let path: String
        var offset: Int64 = 0

        init?(_ path: String) {
            do {
                fd = try Linux.openat(nil, path, flags: O_RDONLY)
            } catch {
                return nil
            }
            self.path = path
        }

        deinit { try? fd.close() }

        func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
            do {
                let count = try Linux.pread(fd, into: buffer, offset: offset, displayPath: path)
                offset += Int64(count)
                return count
            } catch {
                return -1
            }
        }
    }
}
