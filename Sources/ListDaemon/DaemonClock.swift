import Synchronization

/// The daemon's sense of time: the system's monotonic clock, or a clock a test moves by
/// hand, so that settle times, retries and audits are tested without sleeping.
public protocol DaemonClock: Sendable {
    var now: ContinuousClock.Instant { get }
}

public struct SystemDaemonClock: DaemonClock {
    public init() {}
    public var now: ContinuousClock.Instant { ContinuousClock.now }
}

/// A clock that stands still until a test moves it.
public final class ManualDaemonClock: DaemonClock {
    private let instant: Mutex<ContinuousClock.Instant>

    public init(start: ContinuousClock.Instant = .now) { instant = Mutex(start) }

    public var now: ContinuousClock.Instant { instant.withLock { $0 } }

    public func advance(by duration: Duration) { instant.withLock { $0 += duration } }
}
