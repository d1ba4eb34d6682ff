import Synchronization

/// What `GET /healthz` asks of a publisher: has it published a first list, and does its
/// publishing work now. The publisher's loop writes it; the HTTP side reads it.
public final class PublishHealth: Sendable {
    /// Failed publishes in a row before the publisher counts as unhealthy: one failure is
    /// retried 5 s later, and a full disk or a lost mount fails every retry.
    public static let failuresBeforeUnhealthy = 3

    private struct State {
        var published = false
        var failuresInARow = 0
    }

    private let state = Mutex(State())

    public init() {}

    public func publishSucceeded() {
        state.withLock {
            $0.published = true
            $0.failuresInARow = 0
        }
    }

    public func publishFailed() { state.withLock { $0.failuresInARow += 1 } }

    /// Why the publisher is not healthy; nil when it is.
    public var problem: String? {
        state.withLock { state in
            if !state.published { return "no list published yet" }
            if state.failuresInARow >= Self.failuresBeforeUnhealthy {
                return "the last \(state.failuresInARow) attempts to publish failed"
            }
            return nil
        }
    }
}
