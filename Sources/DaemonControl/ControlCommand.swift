import ListProtocol

/// What may be said on a filelistd control socket, one line each, by `filelistd
/// status`/`rescan` and by quick-mirror telling a relay that new lists are installed.
/// Both sides go through this type, so a command spelt one way here is read the same
/// way there.
public enum ControlCommand: Sendable, Equatable {
    /// The counters, as text.
    case status
    /// A daemon: verify the index against a full scan and report the drift. A relay:
    /// re-read the lists and announce them if they changed (as SIGHUP does).
    case rescan
    /// A relay: re-read the lists; if they changed, announce a new generation whose
    /// route is these hops (the upstream's) followed by the relay's own.
    case announce(hops: [Hop])

    /// The line sent on the socket, without its newline.
    public var line: String {
        switch self {
        case .status: "status"
        case .rescan: "rescan"
        case .announce(let hops): "announce \(Announcement.hopsJSON(hops))"
        }
    }

    /// The command's name, for "use ... or ..." replies.
    public var name: String {
        switch self {
        case .status: "status"
        case .rescan: "rescan"
        case .announce: "announce"
        }
    }

    /// Reads a received line. The error is the reply the client gets.
    public init(line: String) throws(ControlCommandError) {
        let trimmed = line.drop { $0 == " " || $0 == "\t" }
        let word = trimmed.prefix { $0 != " " && $0 != "\t" }
        let rest = trimmed.dropFirst(word.count).drop { $0 == " " || $0 == "\t" }
        switch word {
        case "status" where rest.isEmpty: self = .status
        case "rescan" where rest.isEmpty: self = .rescan
        case "announce":
            do {
                self = .announce(hops: rest.isEmpty ? [] : try Announcement.hops(json: rest))
            } catch {
                throw ControlCommandError("the hops are not a JSON array of hops: \(error)")
            }
        default:
            throw ControlCommandError("unknown command '\(line.prefix(40))'")
        }
    }
}

public struct ControlCommandError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
