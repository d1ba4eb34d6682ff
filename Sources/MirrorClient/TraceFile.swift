import Foundation
import ListProtocol
import Publish

/// TRACEFILE: what a mirror holds, in a file it serves with its content, so that a mirror
/// without a relay (a plain rsync or web mirror) says it too, as Debian mirrors do with
/// `project/trace/HOST`. One fact per line, `Key: value` (docs/FORMAT.md), written after
/// each successful run, replaced in one rename.
public struct TraceFile: Sendable, Equatable {
    /// The first line: what the file is, and the version of its format.
    static let magic = "QuickMirror-Trace: 1"

    /// The mirror's name (CHECKIN_HOST, else the host name).
    public var host: String
    /// When the run that wrote the file ended, and when it started.
    public var date: String
    public var started: String
    /// The origin generation the mirror holds and when the origin published it; nil
    /// when the upstream could not say (lists not from a filelistd).
    public var origin: ServerStatus.Origin?
    /// When this mirror installed that generation: the end of the run that brought it
    /// (later runs that found nothing new keep it).
    public var installed: String?
    /// Seconds the mirror was behind at the end of the run (0: it held its upstream's
    /// newest); nil when the upstream could not say.
    public var lagSeconds: Double?
    /// Where the lists came from (LISTSOURCE).
    public var upstream: String?

    public init(
        host: String, date: String, started: String, origin: ServerStatus.Origin?, installed: String?,
        lagSeconds: Double?, upstream: String?
    ) {
        self.host = host
        self.date = date
        self.started = started
        self.origin = origin
        self.installed = installed
        self.lagSeconds = lagSeconds
        self.upstream = upstream
    }

    public var text: String {
        var lines = [Self.magic, "Host: \(Self.oneLine(host))", "Date: \(date)", "Date-Started: \(started)"]
        if let origin {
            lines += [
                "Origin: \(Self.oneLine(origin.name))", "Origin-Generation: \(origin.generation)",
                "Origin-Published: \(origin.published)",
            ]
        }
        if let installed { lines.append("Installed: \(installed)") }
        if let lagSeconds { lines.append("Lag-Seconds: \(String(format: "%.3f", lagSeconds))") }
        if let upstream { lines.append("Upstream: \(Self.oneLine(upstream))") }
        lines.append("Creator: quick-mirror")
        return lines.joined(separator: "\n") + "\n"
    }

    public func write(to path: String) throws {
        let file = try AtomicFile(target: path)
        try file.write(Array(text.utf8))
        _ = try file.commit()
    }

    /// Reads a trace file as strictly as a status answer: a first line that says what it
    /// is, times that are times, no negative figure. Unknown keys are skipped (a later
    /// version may add some).
    public init(parsing bytes: some Collection<UInt8>) throws(StatusProblem) {
        guard let text = String(validating: Array(bytes), as: UTF8.self) else {
            throw StatusProblem("a trace file that is not UTF-8")
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.first.map({ $0.trimmingCharacters(in: .whitespaces) }) == Self.magic else {
            throw StatusProblem("not a status answer (neither JSON nor a QuickMirror trace file)")
        }
        var fields: [String: String] = [:]
        for line in lines.dropFirst() where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { throw StatusProblem("trace line without a key: \(line.prefix(60))") }
            fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        func time(_ key: String) throws(StatusProblem) -> String? {
            guard let value = fields[key] else { return nil }
            guard InternetTime.seconds(from: value) != nil else { throw StatusProblem("trace \(key) is not an RFC 3339 time") }
            return value
        }
        guard let date = try time("Date") else { throw StatusProblem("trace file without Date") }
        host = fields["Host"] ?? ""
        self.date = date
        started = try time("Date-Started") ?? date
        installed = try time("Installed")
        upstream = fields["Upstream"]
        if let name = fields["Origin"], let generationText = fields["Origin-Generation"] {
            guard let generation = Int(generationText), generation >= 0 else {
                throw StatusProblem("trace Origin-Generation '\(generationText.prefix(30))' is not a generation")
            }
            guard let published = try time("Origin-Published") else { throw StatusProblem("trace without Origin-Published") }
            origin = ServerStatus.Origin(name: name, generation: generation, published: published)
        } else {
            origin = nil
        }
        if let lag = fields["Lag-Seconds"] {
            guard let value = Double(lag), value.isFinite, value >= 0 else {
                throw StatusProblem("trace Lag-Seconds '\(lag.prefix(30))' is not >= 0")
            }
            lagSeconds = value
        } else {
            lagSeconds = nil
        }
    }

    /// A value on one line: a name from the configuration or the network cannot add a line.
    static func oneLine(_ value: String) -> String {
        String(value.map { $0.isNewline ? " " : $0 })
    }

    /// What the last trace said the mirror installed, when it is the same generation: a
    /// run that found nothing new keeps the time it arrived.
    static func previousInstall(at path: String, of origin: ServerStatus.Origin) -> String? {
        guard let data = FileManager.default.contents(atPath: path), data.count < 1 << 16,
            let previous = try? TraceFile(parsing: data), previous.origin == origin
        else { return nil }
        return previous.installed
    }
}
