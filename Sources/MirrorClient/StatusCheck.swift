import Foundation
import ListProtocol

/// `quick-mirror status URL...`: how far behind the first URL (the reference, usually
/// the origin) each mirror is, from what each says it holds.
///
/// The lag of a mirror is read off the reference's own record: 0 when the mirror holds
/// the newest origin generation the reference has heard of, else the time from the
/// origin's publishing of the oldest generation the mirror lacks to the reference's
/// `now`. Both come from the reference's answer, so the two machines' clocks never meet.
/// Generations are told apart by their publish times, which survive an origin restart
/// (its count starts again at 1); the count of generations is the reference's.
public struct StatusCheck: Sendable {
    /// One mirror's line: the facts, and its verdict.
    public struct Line: Codable, Sendable, Equatable {
        public enum State: String, Codable, Sendable {
            /// Within `--max-lag` of the reference.
            case ok
            /// Behind by more than `--max-lag`.
            case behind
            /// Not reached, or its answer is not a status.
            case error
        }

        public var url: String
        public var state: State
        public var server: String?
        public var origin: String?
        public var originGeneration: Int?
        public var published: String?
        public var installed: String?
        public var lagSeconds: Double?
        public var lagGenerations: Int?
        public var reason: String?

        enum CodingKeys: String, CodingKey {
            case url, state, server, origin
            case originGeneration = "origin_generation"
            case published, installed
            case lagSeconds = "lag_seconds"
            case lagGenerations = "lag_generations"
            case reason
        }

        init(url: String, error: String) {
            self.url = url
            state = .error
            reason = error
        }

        init(url: String, state: State) {
            self.url = url
            self.state = state
        }

        /// `OK      http://tier1:8080  tier1 holds origin#12 (published ...), lag 0.000 s, 0 generations, installed ...`
        public var text: String {
            let label = state == .ok ? "OK    " : state == .behind ? "BEHIND" : "ERROR "
            var text = "\(label) \(url)"
            if let server, !server.isEmpty { text += " (\(TraceFile.oneLine(server)))" }
            if let origin, let originGeneration {
                text += ": \(TraceFile.oneLine(origin))#\(originGeneration)"
                if let published { text += " published \(published)" }
                if let lagSeconds {
                    text += ", lag \(String(format: "%.3f", lagSeconds)) s"
                    if let lagGenerations { text += " (\(lagGenerations) generation\(lagGenerations == 1 ? "" : "s"))" }
                }
                if let installed { text += ", installed \(installed)" }
            }
            if let reason { text += (origin == nil ? ": " : "; ") + TraceFile.oneLine(reason) }
            return text
        }
    }

    public struct Report: Codable, Sendable {
        /// 0: every mirror within `--max-lag`; 1: one is behind; 2: one cannot be read.
        public var status: Int32
        public var reference: String
        public var maxLagSeconds: Double
        public var mirrors: [Line]

        enum CodingKeys: String, CodingKey {
            case status, reference
            case maxLagSeconds = "max_lag_seconds"
            case mirrors
        }

        /// The lines worst first (errors, then mirrors behind, then the rest, each in the
        /// order given): the first line is the one Nagios and Icinga show.
        public var worstFirst: [Line] {
            func rank(_ state: Line.State) -> Int { state == .error ? 0 : state == .behind ? 1 : 2 }
            return mirrors.enumerated().sorted {
                (rank($0.element.state), $0.offset) < (rank($1.element.state), $1.offset)
            }.map(\.element)
        }
    }

    public var maxLag: Double
    public var timeout: Double

    public init(maxLag: Double = 600, timeout: Double = 10) {
        self.maxLag = maxLag
        self.timeout = timeout
    }

    /// Asks every URL at once, then compares.
    public func run(_ urls: [String]) -> Report {
        let futures = urls.map { StatusFetch.start(StatusFetch.location(of: $0), timeout: timeout) }
        let readings = futures.map { future -> Result<MirrorReading, StatusProblem> in
            let bytes: Result<[UInt8], StatusProblem>
            do { bytes = try future.wait() } catch { bytes = .failure(StatusProblem("\(error)")) }
            return bytes.flatMap { bytes in Result { () throws(StatusProblem) in try StatusFetch.reading(bytes) } }
        }
        return compare(urls: urls, readings)
    }

    /// The verdict on each mirror, from what each answered; the first is the reference.
    func compare(urls: [String], _ readings: [Result<MirrorReading, StatusProblem>]) -> Report {
        var lines: [Line] = []
        let reference: Timeline?
        var referenceProblem: String?
        switch readings.first {
        case .success(.status(let status)):
            let timeline = Timeline(status)
            if timeline == nil { referenceProblem = "the reference holds no origin generation yet" }
            if let timeline, let future = timeline.fromTheFuture {
                reference = nil
                referenceProblem =
                    "the reference's origin generation \(future.generation) is published "
                    + "\(Int(future.published - timeline.now)) s after its own now (a generation from the future)"
            } else {
                reference = timeline
            }
        case .success(.trace):
            reference = nil
            referenceProblem = "the reference must be a filelistd's /status, not a trace file"
        case .failure(let problem):
            reference = nil
            referenceProblem = "the reference did not answer: \(problem)"
        case nil:
            reference = nil
        }
        for (index, (url, reading)) in zip(urls, readings).enumerated() {
            switch reading {
            case .failure(let problem):
                lines.append(Line(url: url, error: problem.description))
            case .success(let reading):
                let held = Held(reading)
                guard let reference else {
                    var line = held.line(url: url, state: .error)
                    line.reason = index == 0 ? referenceProblem : "not compared: \(referenceProblem ?? "no reference")"
                    lines.append(line)
                    continue
                }
                lines.append(judge(held, url: url, against: reference))
            }
        }
        let status: Int32 =
            lines.contains { $0.state == .error } ? 2 : lines.contains { $0.state == .behind } ? 1 : 0
        return Report(status: status, reference: urls.first ?? "", maxLagSeconds: maxLag, mirrors: lines)
    }

    func judge(_ held: Held, url: String, against reference: Timeline) -> Line {
        guard let origin = held.origin, let published = InternetTime.seconds(from: origin.published) else {
            var line = held.line(url: url, state: .error)
            line.reason = "holds no origin generation it can name (lists not from a filelistd?)"
            return line
        }
        guard origin.name == reference.origin else {
            var line = held.line(url: url, state: .error)
            line.reason = "follows origin '\(origin.name)', not the reference's '\(reference.origin)'"
            return line
        }
        // A generation the reference never saw and newer than its newest: at the origin
        // itself that cannot be; below a relay reference, the mirror is simply ahead of it.
        if published > reference.newest.published + 0.0005 {
            guard !reference.isOrigin else {
                var line = held.line(url: url, state: .error)
                line.reason =
                    "claims origin generation \(origin.generation) published \(origin.published), "
                    + "newer than the origin's newest (\(reference.newest.generation))"
                return line
            }
        }
        let lacking = reference.records.filter { $0.published > published + 0.0005 }
        var line = held.line(url: url, state: .ok)
        line.lagSeconds = lacking.first.map { max(0, reference.now - $0.published) } ?? 0
        line.lagGenerations =
            lacking.isEmpty
            ? 0 : published < reference.records[0].published && reference.newest.generation > origin.generation
                ? reference.newest.generation - origin.generation : lacking.count
        if (line.lagSeconds ?? 0) > maxLag { line.state = .behind }
        return line
    }

    /// The reference's record of origin generations: what it holds and what it heard of.
    struct Timeline {
        struct Record {
            var generation: Int
            var published: Double
        }

        var origin: String
        var isOrigin: Bool
        var now: Double
        /// Ascending by publish time, the one held included.
        var records: [Record]
        var newest: Record { records[records.count - 1] }

        /// Every lag is the reference's `now` minus an origin publish time: at the origin one
        /// clock, at a relay two, apart by no more than NTP's error. A publish time a minute
        /// past `now` is a broken clock or a made-up generation, and no lag read off it
        /// would be true.
        static let clockTolerance = 60.0

        var fromTheFuture: Record? { newest.published > now + Self.clockTolerance ? newest : nil }

        init?(_ status: ServerStatus) {
            guard let name = status.origin?.name ?? status.route.first?.host,
                let now = InternetTime.seconds(from: status.now)
            else { return nil }
            var records = status.recent.compactMap { seen in
                InternetTime.seconds(from: seen.published).map { Record(generation: seen.generation, published: $0) }
            }
            if let origin = status.origin, let published = InternetTime.seconds(from: origin.published),
                !records.contains(where: { $0.generation == origin.generation })
            {
                records.append(Record(generation: origin.generation, published: published))
            }
            guard !records.isEmpty else { return nil }
            self.records = records.sorted { $0.published < $1.published }
            self.origin = name
            self.now = now
            isOrigin = status.role == "origin" && status.server == name
        }
    }

    /// What one mirror says it holds.
    struct Held {
        var server: String
        var origin: ServerStatus.Origin?
        var installed: String?

        init(_ reading: MirrorReading) {
            switch reading {
            case .status(let status):
                server = status.server
                origin = status.origin
                installed = status.installed
            case .trace(let trace):
                server = trace.host
                origin = trace.origin
                installed = trace.installed
            }
        }

        func line(url: String, state: Line.State) -> Line {
            var line = Line(url: url, state: state)
            line.server = server
            line.origin = origin?.name
            line.originGeneration = origin?.generation
            line.published = origin?.published
            line.installed = installed
            return line
        }
    }
}
