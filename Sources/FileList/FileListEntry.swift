/// What the type column says an entry is. The raw value is the letter written to the list.
public enum EntryKind: UInt8, Sendable, Hashable {
    case file = 0x66  // "f"; also fifos, sockets and devices, listed with size 0 as the reference does
    case directory = 0x64  // "d"
    case symlink = 0x6C  // "l"
}

/// Who may read an entry, as the type suffix says it.
public enum EntryAccess: UInt8, Sendable, Hashable {
    /// No suffix: world-readable, under world-readable directories.
    case open = 0
    /// `*`: world-readable itself, but below a directory that is not.
    case restrictedSubtree = 0x2A
    /// `-`: not world-readable (`S_IROTH` unset). Wins over `*`.
    case notWorldReadable = 0x2D
}

/// The type column of a `[Files]` line: a kind and an optional restriction suffix.
public struct EntryType: Sendable, Hashable, CustomStringConvertible {
    public var kind: EntryKind
    public var access: EntryAccess

    public init(_ kind: EntryKind, _ access: EntryAccess = .open) {
        self.kind = kind
        self.access = access
    }

    /// Clients that do not mirror restricted content take only plain `f`, `d` and `l`.
    public var isRestricted: Bool { access != .open }

    public var description: String {
        access == .open
            ? String(decoding: [kind.rawValue], as: UTF8.self)
            : String(decoding: [kind.rawValue, access.rawValue], as: UTF8.self)
    }
}

/// One line of the `[Files]` section.
///
/// The path is kept as bytes: names are not normalised, may be invalid UTF-8, and two
/// names that Swift's `String` would call equal (NFC and NFD) are different files.
public struct FileListEntry: Sendable, Hashable {
    /// `max(st_mtime, st_ctime)` in whole seconds.
    public var time: Int64
    public var type: EntryType
    public var size: Int64
    /// Relative path bytes, no leading `./`.
    public var path: [UInt8]

    public init(time: Int64, type: EntryType, size: Int64, path: [UInt8]) {
        self.time = time
        self.type = type
        self.size = size
        self.path = path
    }

    public init(time: Int64, type: EntryType, size: Int64, path: String) {
        self.init(time: time, type: type, size: size, path: Array(path.utf8))
    }

    /// The path for messages; invalid UTF-8 shows as U+FFFD.
    public var displayPath: String { String(decoding: path, as: UTF8.self) }
}
