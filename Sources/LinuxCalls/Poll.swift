import SystemPackage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Waiting on several descriptors at once, for a daemon's event loop.
extension Linux {
    /// `poll(2)` until one of `descriptors` is ready or `deadline` passes (nil: no limit).
    /// Returns the number of ready descriptors (their `revents` set); 0 only once the
    /// deadline has passed.
    ///
    /// A signal that interrupts the wait does not end it: the wait goes on for the time
    /// left, so a caller never mistakes EINTR for a due timer or a ready descriptor. The
    /// timeout is rounded up to the next millisecond, so that a wake-up is never early
    /// (an early one would find no timer due and spin until one is).
    public static func poll(
        _ descriptors: inout [pollfd], until deadline: ContinuousClock.Instant?
    ) throws(SystemCallError) -> Int {
        let clock = ContinuousClock()
        while true {
            let (ready, error) = retrying {
                Glibc.poll(&descriptors, nfds_t(descriptors.count), deadline.map { timeout(until: $0, clock) } ?? -1)
            }
            if let error { throw SystemCallError("poll", path: "-", errno: error) }
            // poll(2) takes at most Int32.max milliseconds (24 days): a later deadline
            // takes more than one call.
            if ready > 0 || deadline.map({ clock.now >= $0 }) ?? false { return Int(ready) }
        }
    }

    /// Milliseconds from now until `deadline`, rounded up; 0 when it has passed.
    private static func timeout(until deadline: ContinuousClock.Instant, _ clock: ContinuousClock) -> Int32 {
        let left = clock.now.duration(to: deadline)
        guard left > .zero else { return 0 }
        let (seconds, attoseconds) = left.components
        let milliseconds = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(clamping: milliseconds)
    }
}
