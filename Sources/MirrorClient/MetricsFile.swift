import Foundation
import ListProtocol
import Publish

/// METRICSFILE: each run's figures for node_exporter's textfile collector, which reads
/// every `*.prom` file of its directory whenever it is scraped. The file is replaced in
/// one rename (a scrape never sees half of it).
///
/// A failed run says so and keeps what the last successful run wrote: its time, and
/// what it transferred and deleted. An alert on the time since the last success then
/// sees failures and runs that stopped altogether alike.
public enum MetricsFile {
    public struct Run: Sendable {
        public var ended: Date
        public var duration: Duration
        /// nil: the run failed.
        public var summary: SyncSummary?
        /// Every module the run was configured for: a module with nothing deleted shows 0.
        public var modules: [String]
        /// The origin generation the run left the mirror holding, when the upstream said.
        public var origin: ServerStatus.Origin?
        /// How far behind the origin that left it (`/status`'s lag, as the upstream saw it).
        public var lag: Double?

        public init(
            ended: Date, duration: Duration, summary: SyncSummary?, modules: [String],
            origin: ServerStatus.Origin? = nil, lag: Double? = nil
        ) {
            self.ended = ended
            self.duration = duration
            self.summary = summary
            self.modules = modules
            self.origin = origin
            self.lag = lag
        }
    }

    static let lastSuccess = "quickmirror_last_success_timestamp_seconds"
    static let lastRun = "quickmirror_last_run_timestamp_seconds"
    static let lastDuration = "quickmirror_last_run_duration_seconds"
    static let lastRunSuccess = "quickmirror_last_run_success"
    static let files = "quickmirror_files_transferred"
    static let bytes = "quickmirror_bytes_transferred"
    static let deletions = "quickmirror_deletions"
    static let originGeneration = "quickmirror_origin_generation"
    static let originPublished = "quickmirror_origin_published_timestamp_seconds"
    static let originLag = "quickmirror_origin_lag_seconds"

    static let help: [(name: String, text: String)] = [
        (lastSuccess, "Unix time the last successful run ended."),
        (lastRun, "Unix time the last run ended, successful or not."),
        (lastDuration, "Seconds the last run took."),
        (lastRunSuccess, "1 if the last run succeeded, 0 if it failed."),
        (files, "Regular files rsync transferred in the last successful run."),
        (bytes, "Size of the files rsync transferred in the last successful run."),
        (deletions, "Entries the last successful run deleted, by module."),
        (originGeneration, "The origin generation the last successful run left the mirror holding."),
        (originPublished, "Unix time the origin published that generation."),
        (originLag, "Seconds the mirror was behind the origin at the end of the last successful run; 0 when current."),
    ]

    public static func write(_ run: Run, to path: String) throws {
        let previous = try samples(in: path)
        let file = try AtomicFile(target: path)
        try file.write(Array(render(run, previous: previous).utf8))
        _ = try file.commit()
    }

    /// The text of the file after `run`; `previous` is what the file held (sample ->
    /// value), where a failed run finds what to keep.
    static func render(_ run: Run, previous: [String: String]) -> String {
        var values: [String: [(labels: String, value: String)]] = [:]
        values[lastRun] = [("", seconds(run.ended.timeIntervalSince1970))]
        let duration = run.duration.components
        values[lastDuration] = [("", seconds(Double(duration.seconds) + Double(duration.attoseconds) / 1e18))]
        values[lastRunSuccess] = [("", run.summary == nil ? "0" : "1")]
        if let summary = run.summary {
            values[lastSuccess] = [("", seconds(run.ended.timeIntervalSince1970))]
            // Unknown when rsync could not say (see `Rsync.transfer`): left out, not 0.
            if let statistics = summary.transferStatistics {
                values[files] = [("", String(statistics.files))]
                values[bytes] = [("", String(statistics.bytes))]
            }
            values[deletions] = run.modules.map {
                ("{module=\"\(escaped($0))\"}", String(summary.deletedByModule[$0] ?? 0))
            }
        }
        if run.summary != nil, let origin = run.origin {
            values[originGeneration] = [("", String(origin.generation))]
            values[originPublished] = [
                ("", InternetTime.seconds(from: origin.published).map { seconds($0) } ?? "NaN")
            ]
            if let lag = run.lag { values[originLag] = [("", seconds(lag))] }
        }
        // What the run could not say is what the last success said.
        var kept = run.summary == nil ? [lastSuccess, files, bytes, deletions] : []
        if run.summary == nil || run.origin == nil { kept += [originGeneration, originPublished, originLag] }
        if run.summary != nil, run.origin != nil, run.lag == nil { kept.append(originLag) }
        for name in kept {
            values[name] = previous.filter { sampleName($0.key) == name }.sorted { $0.key < $1.key }.map {
                (String($0.key.dropFirst(name.count)), $0.value)
            }
        }
        var text = ""
        for (name, help) in help {
            guard let samples = values[name], !samples.isEmpty else { continue }
            text += "# HELP \(name) \(help)\n# TYPE \(name) gauge\n"
            for sample in samples { text += "\(name)\(sample.labels) \(sample.value)\n" }
        }
        return text
    }

    /// The samples of a file this wrote: `name{labels}` -> value. Nothing when there is
    /// none yet; a file that cannot be read is an error (its last success time would be lost).
    static func samples(in path: String) throws -> [String: String] {
        guard FileManager.default.fileExists(atPath: path) else { return [:] }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw SyncError("cannot read METRICSFILE '\(path)': \(error.localizedDescription)")
        }
        var samples: [String: String] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " ") else { continue }
            samples[String(line[..<space])] = String(line[line.index(after: space)...])
        }
        return samples
    }

    private static func sampleName(_ sample: String) -> Substring {
        sample.prefix { $0 != "{" }
    }

    private static func seconds(_ value: Double) -> String { String(format: "%.3f", value) }

    /// Label values escape `\`, `"` and newlines (the exposition format).
    private static func escaped(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}
