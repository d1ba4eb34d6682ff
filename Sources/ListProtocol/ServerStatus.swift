import Foundation

/// What `GET /status` answers (docs/FORMAT.md): which origin generation a list server
/// holds, since when, what it has heard of that it does not hold yet, and how far behind
/// that puts it. The server writes it, `quick-mirror status` reads it; times are RFC 3339
/// with milliseconds (`InternetTime`), the origin's times as its hops carried them.
public struct ServerStatus: Codable, Sendable, Equatable {
    /// The origin generation this server holds.
    public struct Origin: Codable, Sendable, Equatable {
        /// The origin's name, as the first hop names it.
        public var name: String
        public var generation: Int
        /// When the origin announced it (its clock).
        public var published: String

        public init(name: String, generation: Int, published: String) {
            self.name = name
            self.generation = generation
            self.published = published
        }
    }

    /// One served list.
    public struct List: Codable, Sendable, Equatable {
        public var path: String
        public var etag: String
        /// This server's generation that installed this version.
        public var generation: Int
        /// When this server installed it.
        public var installed: String
        public var size: Int
        /// Entry lines (`[Files]` lines of a time list, `./` lines of a path list); nil
        /// until the server has read it (with the gzip form, after the announcement).
        public var entries: Int?

        public init(path: String, etag: String, generation: Int, installed: String, size: Int, entries: Int?) {
            self.path = path
            self.etag = etag
            self.generation = generation
            self.installed = installed
            self.size = size
            self.entries = entries
        }
    }

    /// An origin generation this server heard announced, or installed.
    public struct Seen: Codable, Sendable, Equatable {
        public var generation: Int
        /// When the origin announced it.
        public var published: String
        /// When this server installed it; nil for one it heard of and never held (skipped
        /// for a newer one, or still pending).
        public var installed: String?

        public init(generation: Int, published: String, installed: String?) {
            self.generation = generation
            self.published = published
            self.installed = installed
        }
    }

    /// The upstream a relay follows (`filelistd relay --upstream`).
    public struct Upstream: Codable, Sendable, Equatable {
        public var url: String
        /// Whether its change stream is connected now: while it is not, the relay hears of
        /// no new generation and its lag can read 0 while it falls behind.
        public var connected: Bool

        public init(url: String, connected: Bool) {
            self.url = url
            self.connected = connected
        }
    }

    /// This server's clock when it answered: lags and ages are taken from it.
    public var now: String
    /// The name this server puts in its hops.
    public var server: String
    /// `origin` (it publishes its own tree) or `relay`.
    public var role: String
    /// This server's own generation.
    public var generation: Int
    /// 0 when this server holds the newest origin generation it has heard of; otherwise
    /// the seconds from the origin's publishing of the oldest generation it lacks to `now`.
    public var lagSeconds: Double
    /// Open `/events` streams.
    public var subscribers: Int
    /// nil until the server holds a generation whose origin it knows.
    public var origin: Origin?
    /// When this server installed `origin.generation`.
    public var installed: String?
    public var upstream: Upstream?
    /// The hops that brought `origin.generation` here, origin first, this server last.
    public var route: [Hop]
    public var lists: [List]
    /// Origin generations heard of or installed, oldest first: the last 256 at least.
    public var recent: [Seen]

    enum CodingKeys: String, CodingKey {
        case now, server, role, generation
        case lagSeconds = "lag_seconds"
        case subscribers, origin, installed, upstream, route, lists, recent
    }

    public init(
        now: String, server: String, role: String, generation: Int, lagSeconds: Double, subscribers: Int,
        origin: Origin?, installed: String?, upstream: Upstream?, route: [Hop], lists: [List], recent: [Seen]
    ) {
        self.now = now
        self.server = server
        self.role = role
        self.generation = generation
        self.lagSeconds = lagSeconds
        self.subscribers = subscribers
        self.origin = origin
        self.installed = installed
        self.upstream = upstream
        self.route = route
        self.lists = lists
        self.recent = recent
    }

    /// The answer a client reads: decoded, then checked for what no honest server sends
    /// (negative counts, times that are not times, generations out of order), so that
    /// nothing downstream of the parse has to doubt a figure.
    public init(validating bytes: some Collection<UInt8>) throws(StatusProblem) {
        let decoded: ServerStatus
        do {
            decoded = try JSONDecoder().decode(ServerStatus.self, from: Data(bytes))
        } catch DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty {
            // The decoder says the same for bytes that are not JSON and for a number no
            // field can hold (`"generation": 1e300`); the one line should tell them apart.
            guard (try? JSONSerialization.jsonObject(with: Data(bytes))) != nil else { throw StatusProblem("not JSON") }
            throw StatusProblem("not a status answer: a figure out of range")
        } catch let error as DecodingError {
            throw StatusProblem("not a status answer: \(Self.describe(error))")
        } catch {
            throw StatusProblem("not JSON")
        }
        try decoded.validate()
        self = decoded
    }

    func validate() throws(StatusProblem) {
        guard InternetTime.seconds(from: now) != nil else { throw StatusProblem("now is not an RFC 3339 time") }
        guard generation >= 0 else { throw StatusProblem("negative generation \(generation)") }
        guard lagSeconds.isFinite, lagSeconds >= 0 else { throw StatusProblem("lag_seconds \(lagSeconds) is not >= 0") }
        guard subscribers >= 0 else { throw StatusProblem("negative subscriber count \(subscribers)") }
        if let origin {
            guard origin.generation >= 0 else { throw StatusProblem("negative origin generation \(origin.generation)") }
            guard InternetTime.seconds(from: origin.published) != nil else {
                throw StatusProblem("origin.published is not an RFC 3339 time")
            }
        }
        if let installed, InternetTime.seconds(from: installed) == nil {
            throw StatusProblem("installed is not an RFC 3339 time")
        }
        var previous = Int.min
        for seen in recent {
            guard seen.generation >= 0 else { throw StatusProblem("negative generation \(seen.generation) in recent") }
            guard seen.generation > previous else { throw StatusProblem("recent is not in ascending order") }
            previous = seen.generation
            guard InternetTime.seconds(from: seen.published) != nil,
                seen.installed.map({ InternetTime.seconds(from: $0) != nil }) ?? true
            else { throw StatusProblem("generation \(seen.generation) in recent has a time that is not RFC 3339") }
        }
        for list in lists where list.size < 0 || list.generation < 0 || (list.entries ?? 0) < 0 {
            throw StatusProblem("negative figure for list \(list.path)")
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }
            return keys.isEmpty ? "the answer" : keys.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            return context.codingPath.isEmpty ? "no \(key.stringValue)" : "no \(key.stringValue) in \(path(context))"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return "\(path(context)) is not what it should be"
        @unknown default:
            return "\(error)"
        }
    }
}

/// Why an answer is not a status a client can use: one line.
public struct StatusProblem: Error, CustomStringConvertible, Sendable, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
