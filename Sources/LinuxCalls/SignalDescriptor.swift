import CLinuxFS
import SystemPackage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Signals: as a readable descriptor (signalfd), so an event loop polls them with its
/// other inputs; ignored; or, for a loop that has no descriptor to poll, a handler.
extension Linux {
    /// Ignores `signal` for the whole process (`SIGPIPE`: a closed pipe or socket is then
    /// an EPIPE its writer handles, not a death in the middle of a run).
    public static func ignoreSignal(_ signal: Int32) {
        _ = Glibc.signal(signal, SIG_IGN)
    }

    /// Runs `handler` when one of `signals` arrives, and unblocks them in the calling
    /// thread (a parent may have started the process with them blocked). The handler runs
    /// in signal context: it may only store to an atomic.
    public static func handleSignals(_ signals: [Int32], with handler: @escaping @convention(c) (Int32) -> Void) {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in signals {
            _ = Glibc.signal(signal, handler)
            sigaddset(&set, signal)
        }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    /// Blocks `signals` in the calling thread and in every thread it starts afterwards.
    public static func blockSignals(_ signals: [Int32]) {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// A nonblocking, close-on-exec descriptor that reads the (blocked) `signals`.
    public static func signalDescriptor(_ signals: [Int32]) throws(SystemCallError) -> FileDescriptor {
        let (fd, error) = retrying { signals.withUnsafeBufferPointer { qm_signalfd($0.baseAddress, Int32($0.count)) } }
        if let error { throw SystemCallError("signalfd", path: "-", errno: error) }
        return FileDescriptor(rawValue: fd)
    }

    /// The signals received since the last call.
    public static func readSignals(_ fd: FileDescriptor) -> [Int32] {
        var signals: [Int32] = []
        while true {
            let signal = qm_read_signal(fd.rawValue)
            if signal < 0 { return signals }
            signals.append(signal)
        }
    }
}
