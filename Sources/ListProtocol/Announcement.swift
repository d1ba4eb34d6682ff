import Foundation

/// One tier a change has passed through: the origin that published it first, then each
/// mirror that synced it and announced it again.
public struct Hop: Codable, Sendable, Equatable {
    /// The announcing host, as its operator named it (`--name`, else the host name).
    public var host: String
    /// That host's own generation counter when it announced the change.
    public var generation: Int
    /// When it announced it, ISO 8601 with milliseconds.
    public var announced: String

    public init(host: String, generation: Int, announced: Date = Date()) {
        self.host = host
        self.generation = generation
        self.announced = Self.format(announced)
    }

    public var date: Date? { Self.parser.date(from: announced) }

    static func format(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    nonisolated(unsafe) static let parser: ISO8601DateFormatter = {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }()
}

/// What a list server tells its subscribers when a new generation of its lists exists:
/// each list's ETag, and the chain of hops the change travelled to get here.
public struct Announcement: Codable, Sendable, Equatable {
    public var generation: Int
    /// List path below the served root -> its current ETag.
    public var lists: [String: String]
    /// Origin first, this server last.
    public var hops: [Hop]

    public init(generation: Int, lists: [String: String], hops: [Hop]) {
        self.generation = generation
        self.lists = lists
        self.hops = hops
    }

    /// How far the change has spread, for logs: `origin#12 08:00:00.123 > tier1#5 +0.84 s`.
    public var route: String {
        let first = hops.first?.date
        return hops.map { hop in
            guard let first, let date = hop.date, hop != hops.first else {
                return "\(hop.host)#\(hop.generation) \(hop.announced)"
            }
            return "\(hop.host)#\(hop.generation) +\(String(format: "%.2f", date.timeIntervalSince(first))) s"
        }.joined(separator: " > ")
    }

    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    public init(json: some StringProtocol) throws {
        self = try JSONDecoder().decode(Announcement.self, from: Data(json.utf8))
    }

    /// The hops alone, as the control socket's `announce` command carries them.
    public static func hopsJSON(_ hops: [Hop]) -> String {
        String(decoding: (try? JSONEncoder().encode(hops)) ?? Data("[]".utf8), as: UTF8.self)
    }

    public static func hops(json: some StringProtocol) throws -> [Hop] {
        try JSONDecoder().decode([Hop].self, from: Data(json.utf8))
    }
}
