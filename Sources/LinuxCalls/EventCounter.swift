import CLinuxFS
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// An eventfd(2): one thread says "there is something" (`signal`), another thread's poll
/// wakes up on it, and `reset` takes the count back to zero. Non-blocking, close-on-exec.
public final class EventCounter: Sendable {
    public let descriptor: FileDescriptor

    public init() throws(SystemCallError) {
        let (fd, error) = Linux.retrying { qm_eventfd() }
        if let error { throw SystemCallError("eventfd", path: "-", errno: error) }
        descriptor = FileDescriptor(rawValue: fd)
    }

    deinit { try? descriptor.close() }

    /// Makes the descriptor readable. Cannot fail short of a bug: the counter would have
    /// to reach 2^64 - 1 first.
    public func signal() {
        var one: UInt64 = 1
        _ = Linux.retrying { Glibc.write(descriptor.rawValue, &one, 8) }
    }

    /// Back to not readable.
    public func reset() {
        var count: UInt64 = 0
        _ = Linux.retrying { Glibc.read(descriptor.rawValue, &count, 8) }
    }
}
