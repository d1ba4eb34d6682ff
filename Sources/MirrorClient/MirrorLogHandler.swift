import Foundation
import LinuxCalls
import Logging
import Systemd

/// quick-mirror's one log backend, behind a swift-log `Logger`: standard error by
/// verbosity (-d / VERBOSE), LOGFILE and the journal (LOGJOURNAL) by the reference's
/// LOGITEMS letters.
///
/// Each message carries its item letter in the `item` metadata, as the reference's
/// `logit` calls do: `E` error, `e` warning, `r` run start, `R` run end (the summary of
/// a run that changed something), `n` nothing to sync, `c` rsync details, `d`
/// deletions, `M` check-in, `o` list downloads, `k` lock contention. LOGITEMS lists the
/// letters that reach LOGFILE and the journal (`@`: all); the default `aeElrR` keeps the
/// file to errors, warnings and one line per run that did something.
public struct MirrorLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .trace
    let sinks: Sinks

    /// Where messages go; shared by every copy of the handler.
    final class Sinks: Sendable {
        let verbosity: Int
        let logFile: String?
        let logItems: String
        let journal: Bool

        init(verbosity: Int, logFile: String?, logItems: String, journal: Bool) {
            self.verbosity = verbosity
            self.logFile = logFile
            self.logItems = logItems
            self.journal = journal
        }
    }

    public init(verbosity: Int, logFile: String?, logItems: String, journal: Bool) {
        sinks = Sinks(verbosity: verbosity, logFile: logFile, logItems: logItems, journal: journal)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let item = (event.metadata?["item"] ?? metadata["item"]).map { "\($0)" } ?? Self.item(for: event.level)
        let message = "\(event.message)"
        // -d 0: errors only (a successful run prints nothing); 1: the run; 2: its details.
        let threshold: Logger.Level = sinks.verbosity <= 0 ? .error : sinks.verbosity == 1 ? .info : .trace
        // `stderr: no`: said elsewhere (the summary on standard output, a run's error by the command).
        if event.level >= threshold && event.metadata?["stderr"] == nil {
            let prefix = event.level >= .error ? "error: " : event.level == .warning ? "warning: " : ""
            StandardStreams.errorLine("quick-mirror: \(prefix)\(message)")
        }
        guard sinks.logItems.contains(item) || sinks.logItems.contains("@") else { return }
        if let logFile = sinks.logFile { Self.append(message, to: logFile) }
        if sinks.journal {
            Systemd.sendToJournal([
                "MESSAGE=\(message)", "PRIORITY=\(JournalLogHandler.priority(event.level))", "SYSLOG_IDENTIFIER=quick-mirror",
                "QUICK_MIRROR_ITEM=\(item)",
            ])
        }
    }

    static func item(for level: Logger.Level) -> String {
        switch level {
        case .error, .critical: "E"
        case .warning: "e"
        case .notice: "R"
        default: "c"
        }
    }

    /// One line per message; the file is created if it does not exist (the reference
    /// wants it to exist already and writes nothing otherwise).
    static func append(_ message: String, to path: String) {
        // A log that cannot be written has nowhere to say so: the message still went to
        // standard error or the journal when they were asked for.
        guard let fd = try? Linux.openat(nil, path, flags: O_WRONLY | O_APPEND | O_CREAT, mode: 0o644) else { return }
        defer { try? fd.close() }
        let stamp = ISO8601DateFormatter().string(from: Date())
        let bytes = Array("\(stamp) \(message)\n".utf8)
        _ = bytes.withUnsafeBytes { try? Linux.writeAll(fd, $0, displayPath: path) }
    }
}

#if canImport(Glibc)
    import Glibc
#endif
