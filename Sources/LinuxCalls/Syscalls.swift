import CLinuxFS
import SystemPackage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// A failed system call: which call, on which path, and the errno.
///
/// Messages read like `statx(releases/40/foo): Permission denied`, so an operator can
/// tell what was asked of the kernel and about which file.
public struct SystemCallError: Error, Equatable, CustomStringConvertible {
    public var call: String
    public var path: String
    public var errno: Errno

    public init(_ call: String, path: String, errno: Errno) {
        self.call = call
        self.path = path
        self.errno = errno
    }

    public var description: String { "\(call)(\(path)): \(errno.description)" }
}

/// Thin wrappers over the raw Linux calls the scanner and publisher use. Each retries on
/// EINTR and turns -1/errno into a thrown `SystemCallError`; nothing else lives here.
public enum Linux {
    /// Runs `body` until it does not fail with EINTR.
    @inline(__always)
    static func retrying<T: FixedWidthInteger>(_ body: () -> T) -> (T, Errno?) {
        while true {
            let result = body()
            if result != -1 { return (result, nil) }
            let error = Errno(rawValue: Glibc.errno)
            if error != .interrupted { return (result, error) }
        }
    }

    public static func openat(
        _ directory: FileDescriptor?, _ path: UnsafePointer<CChar>, flags: Int32, mode: mode_t = 0,
        displayPath: @autoclosure () -> String
    ) throws(SystemCallError) -> FileDescriptor {
        let (fd, error) = retrying { Glibc.openat(directory?.rawValue ?? AT_FDCWD, path, flags | O_CLOEXEC, mode) }
        if let error { throw SystemCallError("open", path: displayPath(), errno: error) }
        return FileDescriptor(rawValue: fd)
    }

    public static func openat(
        _ directory: FileDescriptor?, _ path: String, flags: Int32, mode: mode_t = 0
    ) throws(SystemCallError) -> FileDescriptor {
        let result = path.withCString { pointer in
            Result { () throws(SystemCallError) in
                try openat(directory, pointer, flags: flags, mode: mode, displayPath: path)
            }
        }
        return try result.get()
    }

    /// Opens a directory relative to `directory` without following a final symlink.
    public static func openDirectory(
        _ directory: FileDescriptor?, _ path: UnsafePointer<CChar>, displayPath: @autoclosure () -> String
    ) throws(SystemCallError) -> FileDescriptor {
        try openat(directory, path, flags: O_RDONLY | O_DIRECTORY | O_NOFOLLOW, displayPath: displayPath())
    }

    /// Reads the next batch of `linux_dirent64` records; 0 at the end of the directory.
    public static func getdents64(
        _ fd: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer, displayPath: @autoclosure () -> String
    ) throws(SystemCallError) -> Int {
        let (count, error) = retrying { qm_getdents64(fd.rawValue, buffer.baseAddress, buffer.count) }
        if let error { throw SystemCallError("getdents64", path: displayPath(), errno: error) }
        return count
    }

    /// `statx` relative to a directory; returns the errno instead of throwing because the
    /// scanner treats ENOENT (a file deleted during the scan) as an ordinary outcome.
    @inline(__always)
    public static func statx(
        _ directory: FileDescriptor, _ name: UnsafePointer<CChar>, followSymlink: Bool, into result: inout qm_stat
    ) -> Errno? {
        retrying { qm_statx(directory.rawValue, name, followSymlink ? 1 : 0, &result) }.1
    }

    public static func fsync(_ fd: FileDescriptor, displayPath: String) throws(SystemCallError) {
        if let error = retrying({ Glibc.fsync(fd.rawValue) }).1 {
            throw SystemCallError("fsync", path: displayPath, errno: error)
        }
    }

    public static func fdatasync(_ fd: FileDescriptor, displayPath: String) throws(SystemCallError) {
        if let error = retrying({ Glibc.fdatasync(fd.rawValue) }).1 {
            throw SystemCallError("fdatasync", path: displayPath, errno: error)
        }
    }

    /// Asks the kernel to start writing a range to disk now, without waiting. Best effort:
    /// the final fsync is what makes the data durable.
    public static func startWriteback(_ fd: FileDescriptor, offset: Int64, length: Int64) {
        _ = retrying { qm_start_writeback(fd.rawValue, offset, length) }
    }

    public static func fchmod(_ fd: FileDescriptor, mode: mode_t, displayPath: String) throws(SystemCallError) {
        if let error = retrying({ Glibc.fchmod(fd.rawValue, mode) }).1 {
            throw SystemCallError("fchmod", path: displayPath, errno: error)
        }
    }

    /// Gives an `O_TMPFILE` file a name. Going through `/proc/self/fd` needs no
    /// CAP_DAC_READ_SEARCH, unlike `AT_EMPTY_PATH`.
    public static func linkTemporaryFile(
        _ fd: FileDescriptor, into directory: FileDescriptor, name: String
    ) throws(SystemCallError) {
        let source = "/proc/self/fd/\(fd.rawValue)"
        if let error = retrying({ Glibc.linkat(AT_FDCWD, source, directory.rawValue, name, AT_SYMLINK_FOLLOW) }).1 {
            throw SystemCallError("linkat", path: name, errno: error)
        }
    }

    /// `renameat(2)`: the one atomic way to replace a file.
    public static func rename(
        _ from: String, to: String, in directory: FileDescriptor
    ) throws(SystemCallError) {
        if let error = retrying({ Glibc.renameat(directory.rawValue, from, directory.rawValue, to) }).1 {
            throw SystemCallError("rename", path: "\(from) -> \(to)", errno: error)
        }
    }

    public static func unlink(_ name: String, in directory: FileDescriptor) throws(SystemCallError) {
        if let error = retrying({ Glibc.unlinkat(directory.rawValue, name, 0) }).1 {
            throw SystemCallError("unlink", path: name, errno: error)
        }
    }

    /// Gives the kernel back the heap memory freed since (`malloc_trim`). glibc keeps
    /// freed memory below a threshold that grows with the largest buffer freed (up to
    /// 64 MB per arena), so a daemon that once built a big buffer would keep it resident.
    public static func releaseFreeMemory() { qm_release_free_memory() }

    public static func fstat(_ fd: FileDescriptor, displayPath: String) throws(SystemCallError) -> stat {
        var result = stat()
        if let error = retrying({ Glibc.fstat(fd.rawValue, &result) }).1 {
            throw SystemCallError("fstat", path: displayPath, errno: error)
        }
        return result
    }

    /// A second descriptor of the same open file (close-on-exec), for a user that
    /// closes its own.
    public static func duplicate(_ fd: FileDescriptor, displayPath: String) throws(SystemCallError) -> FileDescriptor {
        let (copy, error) = retrying { Glibc.fcntl(fd.rawValue, F_DUPFD_CLOEXEC, 0) }
        if let error { throw SystemCallError("dup", path: displayPath, errno: error) }
        return FileDescriptor(rawValue: copy)
    }

    /// A file in memory only (memfd_create), gone with its last descriptor: for bytes a
    /// process serves with sendfile(2) but never wants on a disk.
    public static func memoryFile(name: String) throws(SystemCallError) -> FileDescriptor {
        let (fd, error) = retrying { qm_memfd(name) }
        if let error { throw SystemCallError("memfd_create", path: name, errno: error) }
        return FileDescriptor(rawValue: fd)
    }

    /// `write(2)` of all of `bytes`, retried on EINTR and on short writes.
    public static func writeAll(
        _ fd: FileDescriptor, _ bytes: UnsafeRawBufferPointer, displayPath: @autoclosure () -> String
    ) throws(SystemCallError) {
        var done = 0
        while done < bytes.count {
            let (n, error) = retrying { Glibc.write(fd.rawValue, bytes.baseAddress! + done, bytes.count - done) }
            if let error { throw SystemCallError("write", path: displayPath(), errno: error) }
            // Nothing written for a non-empty buffer would repeat forever.
            guard n > 0 else { throw SystemCallError("write", path: displayPath(), errno: .ioError) }
            done += n
        }
    }

    /// `read(2)` into `buffer`, retried on EINTR: the number of bytes read, 0 at the end.
    public static func read(
        _ fd: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer, displayPath: @autoclosure () -> String
    ) throws(SystemCallError) -> Int {
        let (count, error) = retrying { Glibc.read(fd.rawValue, buffer.baseAddress, buffer.count) }
        if let error { throw SystemCallError("read", path: displayPath(), errno: error) }
        return count
    }

    /// `pread(2)` at `offset`, retried on EINTR: the number of bytes read, 0 at the end.
    public static func pread(
        _ fd: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer, offset: Int64,
        displayPath: @autoclosure () -> String
    ) throws(SystemCallError) -> Int {
        let (count, error) = retrying { Glibc.pread(fd.rawValue, buffer.baseAddress, buffer.count, off_t(offset)) }
        if let error { throw SystemCallError("pread", path: displayPath(), errno: error) }
        return count
    }

    /// Fills `buffer` from `offset` by as many `pread(2)`s as it takes; fewer bytes only
    /// at the end of the file. The number of bytes read.
    public static func preadFully(
        _ fd: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer, offset: Int64,
        displayPath: @autoclosure () -> String
    ) throws(SystemCallError) -> Int {
        var done = 0
        while done < buffer.count {
            let n = try pread(
                fd, into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]), offset: offset + Int64(done),
                displayPath: displayPath())
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// `pwrite(2)` of all of `bytes` at `offset`, retried on EINTR and on short writes;
    /// on failure, the error and how many bytes did reach the file.
    public static func pwriteAll(
        _ fd: FileDescriptor, _ bytes: UnsafeRawBufferPointer, offset: Int64, displayPath: @autoclosure () -> String
    ) -> (written: Int, error: SystemCallError?) {
        var done = 0
        while done < bytes.count {
            let (n, error) = retrying {
                Glibc.pwrite(fd.rawValue, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            }
            if let error { return (done, SystemCallError("pwrite", path: displayPath(), errno: error)) }
            guard n > 0 else { return (done, SystemCallError("pwrite", path: displayPath(), errno: .ioError)) }
            done += n
        }
        return (done, nil)
    }

    /// A regular file opened for reading without following a final symlink, with its
    /// stat; nil when there is none (missing, a symlink, a directory, unreadable): for
    /// callers to whom any of those means "not there".
    public static func openRegularFile(_ path: String) -> (FileDescriptor, Glibc.stat)? {
        guard let fd = try? openat(nil, path, flags: O_RDONLY | O_NOFOLLOW) else { return nil }
        guard let info = try? fstat(fd, displayPath: path), (info.st_mode & S_IFMT) == S_IFREG else {
            try? fd.close()
            return nil
        }
        return (fd, info)
    }

    /// `lstat(2)`: the entry itself, a symbolic link not followed; nil when it cannot be stat'ed.
    public static func lstatPath(_ path: String) -> Glibc.stat? {
        var info = Glibc.stat()
        return retrying({ Glibc.fstatat(AT_FDCWD, path, &info, AT_SYMLINK_NOFOLLOW) }).1 == nil ? info : nil
    }

    /// `unlink(2)` of a path; a name already gone is not an error.
    public static func removeFile(_ path: String) throws(SystemCallError) {
        if let error = retrying({ Glibc.unlinkat(AT_FDCWD, path, 0) }).1, error != .noSuchFileOrDirectory {
            throw SystemCallError("unlink", path: path, errno: error)
        }
    }

    /// `rename(2)` of one path over another: the one atomic way to replace a file.
    public static func rename(_ from: String, over to: String) throws(SystemCallError) {
        if let error = retrying({ Glibc.renameat(AT_FDCWD, from, AT_FDCWD, to) }).1 {
            throw SystemCallError("rename", path: "\(from) -> \(to)", errno: error)
        }
    }

    /// Sets a file's access and modification times (`futimens(2)`), to the second.
    public static func setTimes(_ fd: FileDescriptor, seconds: Int64, displayPath: String) throws(SystemCallError) {
        var times = [timespec(tv_sec: time_t(seconds), tv_nsec: 0), timespec(tv_sec: time_t(seconds), tv_nsec: 0)]
        if let error = retrying({ Glibc.futimens(fd.rawValue, &times) }).1 {
            throw SystemCallError("futimens", path: displayPath, errno: error)
        }
    }

    /// Sets a path's access and modification times to now (`utimensat(2)`, as `touch`).
    public static func touch(_ path: String) throws(SystemCallError) {
        if let error = retrying({ Glibc.utimensat(AT_FDCWD, path, nil, 0) }).1 {
            throw SystemCallError("utimensat", path: path, errno: error)
        }
    }

    /// Bytes an unprivileged user may still write on the file system holding `path`
    /// (`statvfs(3)`: `f_bavail` blocks of `f_frsize`).
    public static func availableSpace(_ path: String) throws(SystemCallError) -> Int64 {
        var info = Glibc.statvfs()
        if let error = retrying({ statvfs(path, &info) }).1 {
            throw SystemCallError("statvfs", path: path, errno: error)
        }
        return Int64(info.f_bavail) * Int64(info.f_frsize)
    }

    /// `stat(2)` of a path, following symbolic links; nil when it cannot be stat'ed.
    public static func statPath(_ path: String) -> Glibc.stat? {
        var info = Glibc.stat()
        return fstatat(AT_FDCWD, path, &info, 0) == 0 ? info : nil
    }

    /// `link(2)`: a second name for a file.
    public static func link(_ existing: String, as name: String) throws(SystemCallError) {
        if let error = retrying({ Glibc.linkat(AT_FDCWD, existing, AT_FDCWD, name, 0) }).1 {
            throw SystemCallError("link", path: "\(existing) -> \(name)", errno: error)
        }
    }

    /// `chmod(2)` of a path.
    public static func changeMode(_ path: String, to mode: mode_t) throws(SystemCallError) {
        if let error = retrying({ Glibc.fchmodat(AT_FDCWD, path, mode, 0) }).1 {
            throw SystemCallError("chmod", path: path, errno: error)
        }
    }

    /// Sets a path's access and modification times to the nanosecond (`utimensat(2)`),
    /// following a symbolic link.
    public static func setTimes(_ path: String, access: timespec, modification: timespec) throws(SystemCallError) {
        var times = [access, modification]
        if let error = retrying({ Glibc.utimensat(AT_FDCWD, path, &times, 0) }).1 {
            throw SystemCallError("utimensat", path: path, errno: error)
        }
    }

    /// `fstatat(2)` of a name in `directory`, a symbolic link not followed: the entry or
    /// the errno. Names are bytes that need not be UTF-8, so they come as C strings.
    public static func lstat(_ name: UnsafePointer<CChar>, in directory: FileDescriptor) -> Result<Glibc.stat, Errno> {
        var info = Glibc.stat()
        if let error = retrying({ Glibc.fstatat(directory.rawValue, name, &info, AT_SYMLINK_NOFOLLOW) }).1 {
            return .failure(error)
        }
        return .success(info)
    }

    /// `unlinkat(2)` of a name in `directory`: a file, or with `directory: true` an empty
    /// directory. Returns the errno, which callers sort (`ENOENT`, `ENOTEMPTY`) themselves.
    public static func remove(
        _ name: UnsafePointer<CChar>, in directory: FileDescriptor, isDirectory: Bool
    ) -> Errno? {
        retrying({ Glibc.unlinkat(directory.rawValue, name, isDirectory ? AT_REMOVEDIR : 0) }).1
    }

    /// Whether this process may read `path` (`access(2)`, `R_OK`).
    public static func canRead(_ path: String) -> Bool {
        retrying({ Glibc.access(path, R_OK) }).1 == nil
    }

    /// Whether a descriptor is a terminal (`isatty(3)`).
    public static func isTerminal(_ fd: Int32) -> Bool { Glibc.isatty(fd) == 1 }

    /// Makes reads and writes of a descriptor return at once rather than wait (`O_NONBLOCK`).
    public static func setNonBlocking(_ fd: FileDescriptor, displayPath: String) throws(SystemCallError) {
        let (flags, error) = retrying { Glibc.fcntl(fd.rawValue, F_GETFL) }
        if let error { throw SystemCallError("fcntl", path: displayPath, errno: error) }
        if let error = retrying({ Glibc.fcntl(fd.rawValue, F_SETFL, flags | O_NONBLOCK) }).1 {
            throw SystemCallError("fcntl", path: displayPath, errno: error)
        }
    }

    /// The target of a symbolic link (`readlink(2)`), as bytes; nil when it cannot be read.
    public static func readLink(_ path: String) -> [UInt8]? {
        var target = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let (length, error) = retrying { Glibc.readlink(path, &target, target.count - 1) }
        guard error == nil, length > 0 else { return nil }
        return target[..<length].map { UInt8(bitPattern: $0) }
    }

    /// This machine's host name (`gethostname(2)`); nil when it cannot be read.
    public static func hostName() -> String? {
        var buffer = [CChar](repeating: 0, count: 256)
        guard Glibc.gethostname(&buffer, buffer.count - 1) == 0 else { return nil }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Closes a descriptor the process was handed by number and will not use (a socket
    /// systemd passed). Never retried: on Linux the descriptor is gone even when close(2)
    /// reports EINTR, and a second close could hit one opened since.
    public static func closeUnused(_ descriptor: Int32) { _ = Glibc.close(descriptor) }

    /// `CLOCK_MONOTONIC` in microseconds: the clock systemd's `MONOTONIC_USEC` is read on
    /// (Swift's `ContinuousClock` is `CLOCK_BOOTTIME`, which runs on through a suspend).
    public static func monotonicMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
    }

    /// Whether the process runs as root (real user id 0).
    public static var isSuperuser: Bool { Glibc.getuid() == 0 }

    /// The `O_TMPFILE` flag, or nil where the C headers lack it.
    public static var temporaryFileFlag: Int32? {
        let flag = qm_o_tmpfile()
        return flag == 0 ? nil : flag
    }
}

/// Copying part of one file into another inside the kernel.
extension Linux {
    /// `copy_file_range(2)` of exactly `count` bytes, retried on EINTR and short copies:
    /// a page-cache copy on ext4, blocks shared where the file system can (XFS, btrfs),
    /// a copy on the server over NFS 4.2.
    public static func copyRange(
        from source: FileDescriptor, at sourceOffset: Int64, to destination: FileDescriptor,
        at destinationOffset: Int64,
        count: Int64, displayPath: @autoclosure () -> String
    ) throws(SystemCallError) {
        var done: Int64 = 0
        while done < count {
            let (copied, error) = retrying {
                qm_copy_file_range(
                    source.rawValue, sourceOffset + done, destination.rawValue, destinationOffset + done, count - done)
            }
            if let error { throw SystemCallError("copy_file_range", path: displayPath(), errno: error) }
            // The source ended early: it was not the file the caller thought.
            guard copied > 0 else { throw SystemCallError("copy_file_range", path: displayPath(), errno: .ioError) }
            done += copied
        }
    }

    /// Copies `count` bytes from one file into another; where both offsets fall alike on
    /// 4 KiB blocks (everything before a change of length) and the range is large, its
    /// whole blocks share the source's instead (XFS, btrfs), and only the edges are
    /// copied. `cloning` says whether to try; a file system that cannot share blocks
    /// (ext4, tmpfs) sets it false, and the caller copies from then on. Returns the bytes
    /// shared.
    @discardableResult
    public static func copySharingBlocks(
        from source: FileDescriptor, at sourceOffset: Int64, to destination: FileDescriptor, at offset: Int64,
        count: Int64, cloning: inout Bool, displayPath: @autoclosure () -> String
    ) throws(SystemCallError) -> Int64 {
        let block: Int64 = 4096
        var done: Int64 = 0
        var shared: Int64 = 0
        if cloning, (offset - sourceOffset) % block == 0, count >= 16 * block {
            let head = (block - offset % block) % block
            let middle = (count - head) / block * block
            if middle > 0 {
                try copyRange(
                    from: source, at: sourceOffset, to: destination, at: offset, count: head,
                    displayPath: displayPath())
                do throws(SystemCallError) {
                    try cloneRange(
                        from: source, at: sourceOffset + head, to: destination, at: offset + head, count: middle,
                        displayPath: displayPath())
                    done = head + middle
                    shared = middle
                } catch {
                    cloning = false
                    done = head
                }
            }
        }
        try copyRange(
            from: source, at: sourceOffset + done, to: destination, at: offset + done, count: count - done,
            displayPath: displayPath())
        return shared
    }

    /// `ioctl(FICLONERANGE)`: the destination range shares the source's blocks. Offsets and
    /// count must be multiples of the file system's block size.
    public static func cloneRange(
        from source: FileDescriptor, at sourceOffset: Int64, to destination: FileDescriptor,
        at destinationOffset: Int64,
        count: Int64, displayPath: @autoclosure () -> String
    ) throws(SystemCallError) {
        let (_, error) = retrying {
            qm_clone_range(source.rawValue, sourceOffset, destination.rawValue, destinationOffset, count)
        }
        if let error { throw SystemCallError("ioctl(FICLONERANGE)", path: displayPath(), errno: error) }
    }

    /// `pwrite(2)` of all of `bytes` at `offset`, retried on EINTR and short writes.
    public static func pwriteAll(
        _ fd: FileDescriptor, _ bytes: UnsafeRawBufferPointer, at offset: Int64, displayPath: @autoclosure () -> String
    ) throws(SystemCallError) {
        var done = 0
        while done < bytes.count {
            let (n, error) = retrying {
                Glibc.pwrite(fd.rawValue, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            }
            if let error { throw SystemCallError("pwrite", path: displayPath(), errno: error) }
            guard n > 0 else { throw SystemCallError("pwrite", path: displayPath(), errno: .ioError) }
            done += n
        }
    }
}

/// A file mapped read-only: its bytes read where a caller touches them (a binary search
/// in a 300 MB list reads a few pages), unmapped with the last holder.
public final class MappedFile {
    public let bytes: UnsafeRawBufferPointer

    /// Maps the first `size` bytes of `fd` (which may be closed afterwards).
    public init(_ fd: FileDescriptor, size: Int, displayPath: @autoclosure () -> String) throws(SystemCallError) {
        guard size > 0 else {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        let address = mmap(nil, size, PROT_READ, MAP_SHARED, fd.rawValue, 0)
        guard let address, address != MAP_FAILED else {
            throw SystemCallError("mmap", path: displayPath(), errno: Errno(rawValue: Glibc.errno))
        }
        bytes = UnsafeRawBufferPointer(start: address, count: size)
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }
}
