import CSystemd
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// A swift-log backend writing structured entries to the journal: the message stays a
/// short constant sentence and the facts go into fields (`PATH=`, `GENERATION=`...), so
/// `journalctl -u filelistd PATH=...` filters by them.
public struct JournalLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    private let label: String

    public init(label: String) { self.label = label }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = [
            "MESSAGE=\(event.message)",
            "PRIORITY=\(Self.priority(event.level))",
            "SYSLOG_IDENTIFIER=\(label)",
            "CODE_FILE=\(event.file)",
            "CODE_LINE=\(event.line)",
        ]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) {
            fields.append("\(Self.fieldName(key))=\(value)")
        }
        Systemd.sendToJournal(fields)
    }

    /// Journal field names are upper case letters, digits and underscores.
    static func fieldName(_ key: String) -> String {
        let mapped = key.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" }
        return String(mapped.first?.isNumber == true ? ["F"] + mapped : mapped)
    }

    /// The syslog priority journald files a swift-log level under.
    public static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }
}
