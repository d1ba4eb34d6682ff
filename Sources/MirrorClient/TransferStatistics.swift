/// What rsync says it transferred (`--stats`): the regular files it sent and their size.
/// Counted by rsync, not by the plan: a file the plan names but the mirror already held
/// (the paranoia window, a run that was cut short) is not sent again and not counted.
public struct TransferStatistics: Sendable, Equatable {
    /// "Number of regular files transferred".
    public var files = 0
    /// "Total transferred file size": the files' bytes, before compression and deltas.
    public var bytes: Int64 = 0

    public init(files: Int = 0, bytes: Int64 = 0) {
        self.files = files
        self.bytes = bytes
    }

    /// nil when the output holds no statistics rsync's default way (an attempt that
    /// ended before them, or RSYNCOPTS with `-h`, whose sizes are rounded: "1.23M").
    public init?(rsyncOutput text: String) {
        var files: Int?
        var bytes: Int64?
        for line in text.split(separator: "\n") {
            if let value = Self.value(line, "Number of regular files transferred:") {
                files = Int(exactly: value)
            } else if let value = Self.value(line, "Total transferred file size:") {
                bytes = value
            }
        }
        guard let files, let bytes else { return nil }
        self.init(files: files, bytes: bytes)
    }

    /// The number after `label`, grouped by commas as rsync prints it ("1,234 bytes").
    private static func value(_ line: Substring, _ label: String) -> Int64? {
        guard line.hasPrefix(label) else { return nil }
        var field = line.dropFirst(label.count).drop(while: { $0 == " " })
        if field.hasSuffix(" bytes") { field = field.dropLast(" bytes".count) }
        let digits = field.filter { $0 != "," }
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII) else { return nil }
        return Int64(digits)
    }

    public static func + (left: Self, right: Self) -> Self {
        Self(files: left.files + right.files, bytes: left.bytes + right.bytes)
    }
}
