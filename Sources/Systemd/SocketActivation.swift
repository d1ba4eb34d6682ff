import CSystemd

#if canImport(Glibc)
    import Glibc
#endif

/// Socket activation (sd_listen_fds(3)): the listening sockets a `.socket` unit made and
/// passed to this process as descriptors 3, 4... with `LISTEN_PID` and `LISTEN_FDS`.
extension Systemd {
    /// Whether the service manager passed this process sockets; reads the environment only.
    /// (`getpid` here rather than in LinuxCalls: it is sd_listen_fds(3)'s own test, and
    /// this shim depends on libsystemd alone.)
    public static var socketsPassed: Bool {
        guard let pid = getenv("LISTEN_PID").flatMap({ pid_t(String(cString: $0)) }), pid == getpid(),
            let count = getenv("LISTEN_FDS").flatMap({ Int(String(cString: $0)) })
        else { return false }
        return count > 0
    }

    /// Takes the passed sockets: they are marked close-on-exec (rsync and other children
    /// never hold the port) and `LISTEN_*` leaves the environment. Empty when none were passed.
    public static func takeListeningSockets() throws(SocketActivationError) -> [CInt] {
        let count = sd_listen_fds(1)
        guard count >= 0 else { throw SocketActivationError("sd_listen_fds: \(String(cString: strerror(-count)))") }
        return (0..<count).map { SD_LISTEN_FDS_START + $0 }
    }

    /// Whether `descriptor` is a TCP socket (IPv4 or IPv6) in the listening state, which is
    /// what a `ListenStream=PORT` or `ListenStream=ADDRESS:PORT` line makes.
    public static func isListeningTCPSocket(_ descriptor: CInt) -> Bool {
        sd_is_socket_inet(descriptor, AF_UNSPEC, CInt(SOCK_STREAM.rawValue), 1, 0) > 0
    }
}

public struct SocketActivationError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
