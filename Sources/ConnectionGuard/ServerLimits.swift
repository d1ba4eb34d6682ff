import LinuxCalls

/// What a server of ours grants its clients: how long they may take, how much they may
/// send before a request is understood, and how many of them it holds at once.
///
/// The defaults are nginx's (`client_header_timeout 60s`, `keepalive_timeout 75s`,
/// `send_timeout 60s`, request lines and header fields of at most 8 KiB), with a total
/// for the head as a whole, since a client that needs more than 16 KiB of fields to ask
/// for a list or a package is not one of ours.
public struct ServerLimits: Sendable, Equatable {
    /// From a connection's first byte of a request (or its accept) to the end of that
    /// request's head; past it the client gets `408` and the connection is closed.
    public var headerTimeout: Duration = .seconds(60)
    /// A kept-alive connection with nothing asked and nothing being answered is closed
    /// after this. An `/events` stream is always being answered, so never idle.
    public var idleTimeout: Duration = .seconds(75)
    /// A response whose bytes stop leaving (the client stopped reading) is abandoned
    /// after this long without progress.
    public var sendTimeout: Duration = .seconds(60)
    /// Request line and header fields together; more is `431` (`414` when the request
    /// line alone is too long).
    public var maxHeadBytes = 16 * 1024
    /// One line of the head: the request line (`414`) or a header field (`431`).
    public var maxLineBytes = 8 * 1024
    /// Neither server takes a request body; one with a length above this is `413`.
    public var maxBodyBytes: Int64 = 64 * 1024
    /// Connections held at once; one more is answered `503` and closed.
    public var maxConnections = 10_000
    /// `/events` streams open at once (each also holds a connection); one more is `503`.
    public var maxSubscribers = 10_000

    public init() {}

    /// How a server's caps follow from its descriptor limit.
    public struct Sizing: Sendable, Equatable {
        /// The limit in force (after raising the soft limit to the hard one).
        public var descriptors: OpenFileLimit
        /// Kept for the process's own work: what it holds at start plus room for scans,
        /// publishes, cache files and the control socket.
        public var reserve: Int
        /// The most connections the remaining descriptors allow.
        public var connectionsAllowed: Int
    }

    /// Descriptors kept back besides those open at start: a scan holds one directory per
    /// walking thread and its parents, a publish a few files per list, mirror-cache a
    /// partial file and an upstream socket per miss; 1,024 covers a large tree at depth
    /// with room over, and small limits (a test's) keep an eighth.
    public static func reserve(soft: Int, inUse: Int) -> Int {
        inUse + max(32, min(1024, soft / 8))
    }

    /// Sizes the connection cap from the descriptor limit: each connection may hold
    /// `descriptorsPerConnection` (its socket, the file it is sent, an upstream socket),
    /// and `reserve` stays for the process's own work. `requested` caps that were given
    /// (options) are kept when they fit and lowered when they do not; the returned note
    /// says so, for the log.
    public static func sized(
        descriptors: OpenFileLimit, inUse: Int, descriptorsPerConnection: Int, requested: ServerLimits,
        connectionsGiven: Bool
    ) -> (limits: ServerLimits, sizing: Sizing, note: String?) {
        let reserve = reserve(soft: descriptors.soft, inUse: inUse)
        let soft = min(descriptors.soft, 1 << 30)
        let allowed = max(1, (soft - reserve) / max(1, descriptorsPerConnection))
        var limits = requested
        var note: String?
        if limits.maxConnections > allowed {
            if connectionsGiven {
                note =
                    "--max-connections \(limits.maxConnections) needs more descriptors than the limit of \(descriptors.soft) leaves (\(reserve) kept for the server's own work): \(allowed) connections; raise LimitNOFILE="
            }
            limits.maxConnections = allowed
        }
        limits.maxSubscribers = min(limits.maxSubscribers, limits.maxConnections)
        return (limits, Sizing(descriptors: descriptors, reserve: reserve, connectionsAllowed: allowed), note)
    }
}
