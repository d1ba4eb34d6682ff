import Logging
import Synchronization

/// The count of a server's connections and change streams against their caps, and what
/// its limits turned away, for `/metrics` and the log. Shared by every connection.
public final class ConnectionGate: Sendable {
    /// Why a connection was closed by the server rather than by its client.
    public enum Closing: Int, Sendable, CaseIterable {
        case headerTimeout, idleTimeout, sendTimeout, headTooLarge, uriTooLong, bodyRefused

        var label: String {
            switch self {
            case .headerTimeout: "header_timeout"
            case .idleTimeout: "idle_timeout"
            case .sendTimeout: "send_timeout"
            case .headTooLarge: "head_too_large"
            case .uriTooLong: "uri_too_long"
            case .bodyRefused: "body_refused"
            }
        }
    }

    public let limits: ServerLimits
    private let logger: Logger?
    private let connections = Atomic<Int>(0)
    private let subscribers = Atomic<Int>(0)
    private let refusedConnections = Atomic<Int>(0)
    private let refusedSubscribers = Atomic<Int>(0)
    /// Rare (a client misbehaving): a lock is cheap enough.
    private let closings = Mutex([Int](repeating: 0, count: Closing.allCases.count))
    /// When each cap was last reported in the log: once a minute at most, however many
    /// clients a flood brings.
    private let lastReported = Mutex<(connections: ContinuousClock.Instant?, subscribers: ContinuousClock.Instant?)>(
        (nil, nil))
    static let reportInterval = Duration.seconds(60)

    /// How the limits were arrived at (the descriptor limit, the reserve), for the log.
    public let sizing: String

    public init(limits: ServerLimits = ServerLimits(), logger: Logger? = nil, description: String = "") {
        self.limits = limits
        self.logger = logger
        sizing = description
    }

    public var openConnections: Int { connections.load(ordering: .relaxed) }
    public var openSubscribers: Int { subscribers.load(ordering: .relaxed) }
    public var connectionsRefused: Int { refusedConnections.load(ordering: .relaxed) }
    public var subscribersRefused: Int { refusedSubscribers.load(ordering: .relaxed) }
    public func closed(_ reason: Closing) -> Int { closings.withLock { $0[reason.rawValue] } }

    /// Takes a connection's place; false when the cap is reached (the caller refuses it).
    public func admitConnection() -> Bool {
        let now = connections.wrappingAdd(1, ordering: .relaxed).newValue
        guard now > limits.maxConnections else { return true }
        connections.wrappingSubtract(1, ordering: .relaxed)
        refusedConnections.wrappingAdd(1, ordering: .relaxed)
        report(\.connections, "connection cap reached: new connections are refused (503)", limit: limits.maxConnections)
        return false
    }

    public func releaseConnection() { connections.wrappingSubtract(1, ordering: .relaxed) }

    /// Takes a change stream's place, as a ticket that gives it back when released (the
    /// response that holds it ends, or is never sent); nil when the cap is reached.
    public func admitSubscriber() -> SubscriberTicket? {
        let now = subscribers.wrappingAdd(1, ordering: .relaxed).newValue
        guard now > limits.maxSubscribers else { return SubscriberTicket(gate: self) }
        subscribers.wrappingSubtract(1, ordering: .relaxed)
        refusedSubscribers.wrappingAdd(1, ordering: .relaxed)
        report(
            \.subscribers, "subscriber cap reached: new /events streams are refused (503)", limit: limits.maxSubscribers
        )
        return nil
    }

    fileprivate func releaseSubscriber() { subscribers.wrappingSubtract(1, ordering: .relaxed) }

    func count(_ reason: Closing) { closings.withLock { $0[reason.rawValue] += 1 } }

    private func report(
        _ which: WritableKeyPath<
            (connections: ContinuousClock.Instant?, subscribers: ContinuousClock.Instant?), ContinuousClock.Instant?
        >,
        _ message: Logger.Message, limit: Int
    ) {
        guard let logger else { return }
        let now = ContinuousClock.now
        let due = lastReported.withLock { last -> Bool in
            if let previous = last[keyPath: which], now - previous < Self.reportInterval { return false }
            last[keyPath: which] = now
            return true
        }
        guard due else { return }
        logger.warning(
            message,
            metadata: [
                "limit": "\(limit)", "connections_refused": "\(connectionsRefused)",
                "subscribers_refused": "\(subscribersRefused)",
            ])
    }

    /// The figures in Prometheus' text format, each name starting with `prefix`; the
    /// subscriber lines only for a server with change streams.
    public func prometheusText(prefix: String, subscriberPrefix: String? = nil) -> String {
        var text = """
            # HELP \(prefix)_connections Client connections open.
            # TYPE \(prefix)_connections gauge
            \(prefix)_connections \(openConnections)
            # HELP \(prefix)_connections_limit Client connections held at most (--max-connections, or what the descriptor limit allows).
            # TYPE \(prefix)_connections_limit gauge
            \(prefix)_connections_limit \(limits.maxConnections)
            # HELP \(prefix)_connections_refused_total Connections answered 503 and closed because the cap was reached.
            # TYPE \(prefix)_connections_refused_total counter
            \(prefix)_connections_refused_total \(connectionsRefused)
            # HELP \(prefix)_connections_closed_total Connections the server closed, by reason (timeouts, limits).
            # TYPE \(prefix)_connections_closed_total counter

            """
        for reason in Closing.allCases {
            text += "\(prefix)_connections_closed_total{reason=\"\(reason.label)\"} \(closed(reason))\n"
        }
        if let subscriberPrefix {
            text += """
                # HELP \(subscriberPrefix)_limit Change streams held at most (--max-subscribers).
                # TYPE \(subscriberPrefix)_limit gauge
                \(subscriberPrefix)_limit \(limits.maxSubscribers)
                # HELP \(subscriberPrefix)_refused_total Change streams answered 503 because the cap was reached.
                # TYPE \(subscriberPrefix)_refused_total counter
                \(subscriberPrefix)_refused_total \(subscribersRefused)

                """
        }
        return text
    }
}

/// A change stream's place under the subscriber cap: given back once, when released or
/// when the last reference to it goes (a response dropped before its body ran).
public final class SubscriberTicket: Sendable {
    private let gate: ConnectionGate
    private let held = Atomic<Bool>(true)

    fileprivate init(gate: ConnectionGate) { self.gate = gate }

    public func release() {
        if held.exchange(false, ordering: .relaxed) { gate.releaseSubscriber() }
    }

    deinit { release() }
}
