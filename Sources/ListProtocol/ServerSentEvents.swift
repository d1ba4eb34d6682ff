/// The text/event-stream framing (HTML's server-sent events): what the server writes
/// for an announcement, and a parser for the client that reads it back.
public enum ServerSentEvents {
    public static let contentType = "text/event-stream"
    public static let eventName = "lists"
    /// Sent instead of the generations a reconnecting client missed when the server no
    /// longer has them (too old, or from before a restart): the data is the current
    /// announcement, and the client must fetch the lists again rather than apply deltas.
    public static let resetEventName = "reset"
    /// The request header a reconnecting client names the last event it saw with.
    public static let lastEventIDHeader = "Last-Event-ID"

    /// `id` is what a client sends back as `Last-Event-ID` (default: the generation).
    public static func frame(_ announcement: Announcement, id: String? = nil, event: String = eventName) -> String {
        "id: \(id ?? String(announcement.generation))\nevent: \(event)\ndata: \(announcement.json())\n\n"
    }

    /// Whether a client should treat this event as news of new lists.
    public static func announces(_ event: ServerSentEventParser.Event) -> Bool {
        event.name == eventName || event.name == resetEventName
    }

    /// A comment line: keeps proxies from closing an idle stream, and lets the client
    /// tell a quiet upstream from a dead connection.
    public static let heartbeat = ": keep-alive\n\n"
}

/// Reads an event stream chunk by chunk; chunks may split lines anywhere.
public struct ServerSentEventParser: Sendable {
    public struct Event: Sendable, Equatable {
        public var id: String?
        public var name: String
        public var data: String

        public init(id: String?, name: String, data: String) {
            self.id = id
            self.name = name
            self.data = data
        }
    }

    private var pending: [UInt8] = []
    private var data: [String] = []
    private var id: String?
    private var name = "message"

    public init() {}

    /// Feeds bytes; returns the events they completed.
    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [Event] {
        var events: [Event] = []
        for byte in bytes {
            guard byte == 0x0A else {
                pending.append(byte)
                // A stream that never ends a line is not an event stream; do not grow forever.
                if pending.count > 1 << 20 { pending.removeAll() }
                continue
            }
            if pending.last == 0x0D { pending.removeLast() }
            let line = String(decoding: pending, as: UTF8.self)
            pending.removeAll(keepingCapacity: true)
            if line.isEmpty {
                if !data.isEmpty { events.append(Event(id: id, name: name, data: data.joined(separator: "\n"))) }
                data = []
                name = "message"
                continue
            }
            if line.hasPrefix(":") { continue }
            let field: Substring
            var value: Substring
            if let colon = line.firstIndex(of: ":") {
                field = line[..<colon]
                value = line[line.index(after: colon)...]
                if value.first == " " { value = value.dropFirst() }
            } else {
                field = line[...]
                value = ""
            }
            switch field {
            case "data": data.append(String(value))
            case "event": name = String(value)
            case "id": id = String(value)
            default: break
            }
        }
        return events
    }
}
