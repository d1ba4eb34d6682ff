import LinuxCalls
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// The one wait of a daemon process, the watcher's and the relay's: sleeps until one of
/// its inputs (event source, signals, control socket) is readable or the earliest of
/// the caller's timers is due, and says which inputs are ready. What to do about them
/// stays with the caller, which also owns its timers (settle, watchdog, audit, the
/// relay's re-check) and passes their next instants at each wait.
struct EventLoop<Input: Hashable> {
    private let inputs: [Input]
    private var descriptors: [pollfd]

    /// `inputs` pairs each input with the descriptor that becomes readable for it.
    init(_ inputs: [(Input, FileDescriptor)]) {
        self.inputs = inputs.map(\.0)
        descriptors = inputs.map { pollfd(fd: $0.1.rawValue, events: Int16(POLLIN), revents: 0) }
    }

    /// Waits until an input is readable or the earliest of `timers` is due (a nil timer
    /// is not set; with none set, for as long as it takes). Returns the readable inputs;
    /// none when a timer is due. A signal that interrupts the wait does not end it.
    mutating func wait(timers: [ContinuousClock.Instant?]) throws(DaemonError) -> Set<Input> {
        for index in descriptors.indices { descriptors[index].revents = 0 }
        do {
            _ = try Linux.poll(&descriptors, until: timers.compactMap { $0 }.min())
        } catch {
            throw DaemonError("poll: \(error.errno)")
        }
        var ready: Set<Input> = []
        for (input, descriptor) in zip(inputs, descriptors) where descriptor.revents != 0 { ready.insert(input) }
        return ready
    }
}
