/// When the daemon publishes, rescans and retries: a pure type, fed the instants at which
/// things happen and asked what is due at an instant. No clock of its own, so a test
/// drives it (and the daemon built on it) through any sequence of instants.
///
/// - A batch of changes is published once the tree has been quiet for `settle`, or
///   `maxDelay` after its first change while the tree keeps changing.
/// - A publish that failed is tried again after `retryDelay`.
/// - A verification scan runs every `auditInterval`, when one is set.
public struct PublishSchedule: Sendable {
    public typealias Instant = ContinuousClock.Instant

    public var settle: Duration
    public var maxDelay: Duration
    public var retryDelay: Duration
    public var auditInterval: Duration?

    /// The first change not published yet, and the last one.
    public private(set) var pendingSince: Instant?
    public private(set) var lastChange: Instant?
    public private(set) var retryAt: Instant?
    public private(set) var nextAudit: Instant?

    public init(
        settle: Duration, maxDelay: Duration, retryDelay: Duration = .seconds(5), auditInterval: Duration? = nil
    ) {
        self.settle = settle
        self.maxDelay = maxDelay
        self.retryDelay = retryDelay
        self.auditInterval = auditInterval
    }

    /// The daemon is ready (its first lists published) at `now`: audits count from here.
    public mutating func started(at now: Instant) {
        nextAudit = auditInterval.map { now + $0 }
    }

    /// Changes arrived at `now`.
    public mutating func changed(at now: Instant) {
        lastChange = now
        if pendingSince == nil { pendingSince = now }
    }

    /// Whether the pending changes are due for publishing at `now`.
    public func publishDue(at now: Instant) -> Bool {
        guard let pendingSince, let lastChange else { return false }
        return now - lastChange >= settle || now - pendingSince >= maxDelay
    }

    /// The pending changes were applied and published at `now`; `succeeded` false when a
    /// list could not be written (tried again after `retryDelay`); `leftOver` when some
    /// changes wait for the next batch (they count as new from `now`).
    public mutating func published(at now: Instant, succeeded: Bool, leftOver: Bool) {
        pendingSince = leftOver ? now : nil
        if leftOver { lastChange = now }
        retryAt = succeeded ? nil : now + retryDelay
    }

    /// Whether a failed publish is due again at `now`.
    public func retryDue(at now: Instant) -> Bool { retryAt.map { now >= $0 } ?? false }

    public func auditDue(at now: Instant) -> Bool { nextAudit.map { now >= $0 } ?? false }

    /// A verification scan ran at `now` (and published what it found).
    public mutating func audited(at now: Instant) {
        nextAudit = auditInterval.map { now + $0 }
        pendingSince = nil
    }

    /// The next instant something may become due, if anything is waiting.
    public var nextDeadline: Instant? {
        var deadlines: [Instant] = []
        if let pendingSince, let lastChange { deadlines.append(min(lastChange + settle, pendingSince + maxDelay)) }
        if let retryAt { deadlines.append(retryAt) }
        if let nextAudit { deadlines.append(nextAudit) }
        return deadlines.min()
    }
}
