import CLinuxFS
import SystemPackage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The server side of a local (Unix) stream socket, for the daemon's control socket:
/// each call retries on EINTR and reports an error that names the call and the path.
extension Linux {
    /// A nonblocking, close-on-exec Unix stream socket listening at `path`, made only by
    /// its owner's process. Its address is built by `withLocalAddress`, as the client
    /// side's, so the socket-address layout has one owner.
    public static func listenLocal(path: String, backlog: Int32 = 8) throws(SystemCallError) -> FileDescriptor {
        let fd = Glibc.socket(
            AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw SystemCallError("socket", path: path, errno: Errno(rawValue: errno)) }
        let descriptor = FileDescriptor(rawValue: fd)
        // A socket file left at the path belongs to a process that died (the caller holds
        // the lock that makes it the only one to listen here).
        _ = retrying { Glibc.unlink(path) }
        if let error = retrying({ withLocalAddress(path) { Glibc.bind(fd, $0, $1) } }).1 {
            try? descriptor.close()
            throw SystemCallError("bind", path: path, errno: error)
        }
        if let error = retrying({ Glibc.listen(fd, backlog) }).1 {
            try? descriptor.close()
            throw SystemCallError("listen", path: path, errno: error)
        }
        if let error = retrying({ Glibc.chmod(path, 0o600) }).1 {
            try? descriptor.close()
            throw SystemCallError("chmod", path: path, errno: error)
        }
        return descriptor
    }

    /// A close-on-exec Unix stream socket connected to `path`: the client side of
    /// `listenLocal`. It blocks, as a command-line client waits for its reply anyway.
    public static func connectLocal(path: String) throws(SystemCallError) -> FileDescriptor {
        let (fd, socketError) = retrying {
            Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        if let socketError { throw SystemCallError("socket", path: path, errno: socketError) }
        let descriptor = FileDescriptor(rawValue: fd)
        // Unlike TCP, an AF_UNIX connect interrupted by a signal leaves the socket
        // unconnected, so calling it again is a clean retry.
        if let error = retrying({ withLocalAddress(path) { Glibc.connect(fd, $0, $1) } }).1 {
            try? descriptor.close()
            throw SystemCallError("connect", path: path, errno: error)
        }
        return descriptor
    }

    /// Calls `body` with the `sockaddr_un` of `path` (cut to what the address holds; the
    /// callers check the length first): the one owner of that layout, for both sides.
    public static func withLocalAddress<R>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8.prefix(raw.count - 1))
            raw.copyBytes(from: bytes + [0])
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }

    /// Accepts one pending connection, or nil when none is pending. Reads on it time out
    /// after `receiveTimeout` seconds, so a client that says nothing cannot stall a loop.
    public static func acceptLocal(_ listener: FileDescriptor, receiveTimeout seconds: Int) -> FileDescriptor? {
        let (fd, error) = retrying { qm_accept(listener.rawValue) }
        guard error == nil else { return nil }
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        _ = Glibc.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return FileDescriptor(rawValue: fd)
    }

    /// Reads one line (without its newline), at most `limit` bytes; stops at end of
    /// input, a timeout or an error.
    public static func readLine(_ fd: FileDescriptor, limit: Int) -> [UInt8] {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while line.count < limit {
            let (count, error) = retrying { Glibc.read(fd.rawValue, &byte, 1) }
            guard error == nil, count == 1, byte != 0x0A else { break }
            line.append(byte)
        }
        return line
    }

    /// Writes every byte, going on after short writes.
    public static func writeAll(_ fd: FileDescriptor, _ bytes: [UInt8], displayPath: String) throws(SystemCallError) {
        let result = bytes.withUnsafeBytes { buffer in
            Result { () throws(SystemCallError) in try writeAll(fd, buffer, displayPath: displayPath) }
        }
        try result.get()
    }
}
