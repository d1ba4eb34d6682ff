import Foundation

/// How long to wait before trying again something that failed and may work later (a
/// server restarting, a network path coming back): `first`, then twice as long at each
/// further failure, never more than `limit`.
///
/// The one pacing of retries in the project: quick-mirror's list requests and rsync calls
/// (2, 4, 8... seconds, as the reference client), the change-stream follower, mirror-cache's
/// list polls, `quick-mirror follow` while upstream is unwell, and the MirrorManager
/// check-in. Doubling keeps a tier of mirrors from hammering an upstream that is down, and
/// still finds it soon once it is back.
public struct Backoff: Sendable, Equatable {
    public var first: Duration
    public var limit: Duration
    public var growth: Growth

    /// How the pause grows from one retry to the next.
    public enum Growth: Sendable, Equatable {
        /// `first · 2^(retry-1)`.
        case doubling
        /// `first · retry`: the reference client's check-in sleeps 2, 4, 6... seconds, and
        /// MirrorManager's operators know that pacing.
        case linear
    }

    public init(first: Duration, limit: Duration = .seconds(3600), growth: Growth = .doubling) {
        self.first = first
        self.limit = max(limit, first)
        self.growth = growth
    }

    /// The pause before retry number `retry` (1 for the first retry), at most `limit`.
    public func pause(beforeRetry retry: Int) -> Duration {
        switch growth {
        case .doubling:
            // 2^20 times any first pause worth waiting is past any limit worth having.
            let doublings = min(max(retry - 1, 0), 20)
            return min(first * (1 << doublings), limit)
        case .linear:
            return min(first * min(max(retry, 1), 1 << 20), limit)
        }
    }

    /// What one attempt came to: `done` (success, or a failure that waiting will not
    /// mend) ends the run; `again` is worth another try while retries remain.
    public enum Attempt<Outcome> {
        case done(Outcome)
        case again(Outcome)
    }

    /// Makes `attempt` and up to `retries` more while they come back `again`, pausing
    /// `pause(beforeRetry:)` on this thread between them; `willRetry` hears of each retry
    /// before its pause (for the caller's log line). Returns the last attempt's outcome,
    /// whatever it is; an error `attempt` throws ends the run at once.
    public func run<Outcome, Failure: Error>(
        retries: Int, willRetry: (_ retry: Int, _ pause: Duration, _ outcome: Outcome) -> Void,
        _ attempt: () throws(Failure) -> Attempt<Outcome>
    ) throws(Failure) -> Outcome {
        var retry = 0
        while true {
            switch try attempt() {
            case .done(let outcome):
                return outcome
            case .again(let outcome):
                guard retry < retries else { return outcome }
                retry += 1
                let pause = pause(beforeRetry: retry)
                willRetry(retry, pause, outcome)
                Thread.sleep(forTimeInterval: Self.seconds(pause))
            }
        }
    }

    /// As `run`, for a task: the pauses are `Task.sleep`, and cancellation ends a pause
    /// and the run, with the last outcome.
    public func run<Outcome, Failure: Error>(
        retries: Int, willRetry: (_ retry: Int, _ pause: Duration, _ outcome: Outcome) -> Void,
        _ attempt: () async throws(Failure) -> Attempt<Outcome>
    ) async throws(Failure) -> Outcome {
        var retry = 0
        while true {
            switch try await attempt() {
            case .done(let outcome):
                return outcome
            case .again(let outcome):
                guard retry < retries, !Task.isCancelled else { return outcome }
                retry += 1
                let pause = pause(beforeRetry: retry)
                willRetry(retry, pause, outcome)
                do { try await Task.sleep(for: pause) } catch { return outcome }
            }
        }
    }

    /// A duration in seconds, for sleeping and for log lines.
    public static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
