import Foundation
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
    /// A daemon: re-read these subtrees whole (paths relative to the watched directory,
    /// or absolute inside it) and publish what changed: for writers the kernel reports
    /// nothing about, such as NFS clients on other hosts.
    case rescanPaths([String])
    /// A relay: re-read the lists; if they changed, announce a new generation whose
    /// route is these hops (the upstream's) followed by the relay's own. `records`: the
    /// file where quick-mirror described the lists it installed (`InstalledListRecord`),
    /// so that the relay takes their digests, segments and deltas from it rather than
    /// reading the lists.
    case announce(hops: [Hop], records: String? = nil)

    /// The line sent on the socket, without its newline.
    public var line: String {
        switch self {
        case .status: "status"
        case .rescan: "rescan"
        case .rescanPaths(let paths): "rescan \(Self.json(paths))"
        case .announce(let hops, nil): "announce \(Announcement.hopsJSON(hops))"
        case .announce(let hops, let records?):
            "announce \(String(decoding: (try? JSONEncoder().encode(Announce(hops: hops, records: records))) ?? Data(), as: UTF8.self))"
        }
    }

    /// `announce` with records: `{"hops": [...], "records": PATH}`.
    private struct Announce: Codable {
        var hops: [Hop]
        var records: String?
    }

    /// Paths travel as a JSON array of strings: a path may hold spaces.
    private static func json(_ paths: [String]) -> String {
        let data = (try? JSONEncoder().encode(paths)) ?? Data("[]".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// The command's name, for "use ... or ..." replies.
    public var name: String {
        switch self {
        case .status: "status"
        case .rescan, .rescanPaths: "rescan"
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
        case "rescan":
            guard let paths = try? JSONDecoder().decode([String].self, from: Data(rest.utf8)), !paths.isEmpty else {
                throw ControlCommandError("the paths to rescan are not a JSON array of strings")
            }
            self = .rescanPaths(paths)
        case "announce" where rest.first == "{":
            guard let request = try? JSONDecoder().decode(Announce.self, from: Data(rest.utf8)) else {
                throw ControlCommandError("the announcement is not a JSON object of hops and records")
            }
            self = .announce(hops: request.hops, records: request.records)
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
