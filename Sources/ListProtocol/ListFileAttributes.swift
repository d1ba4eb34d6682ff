/// A served list's permission bits and modification time, carried in two response
/// headers of filelistd's list and `/changes` answers.
///
/// rsync gives an installed list upstream's mode and time; a list fetched over HTTP
/// must end up the same, or a mirror compared with its upstream (`find -printf '%T@ %m'`)
/// differs in exactly the files that describe it, and the next tier's rsync copies them
/// again. `Last-Modified` has whole seconds only, so filelistd sends the nanoseconds too;
/// a plain web server's `Last-Modified` is the fallback.
public struct ListFileAttributes: Equatable, Sendable {
    public static let modeHeader = "Mirror-Mode"
    public static let timeHeader = "Mirror-Mtime"

    /// Permission bits only: a mode from the network never sets setuid, setgid or sticky.
    public var mode: UInt32
    public var seconds: Int
    public var nanoseconds: Int

    public init(mode: UInt32, seconds: Int, nanoseconds: Int) {
        self.mode = mode & 0o777
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }

    /// `644` and `1796131374.641760132`.
    public var modeValue: String { String(mode, radix: 8) }
    public var timeValue: String {
        let fraction = String(nanoseconds)
        return "\(seconds).\(String(repeating: "0", count: max(0, 9 - fraction.count)))\(fraction)"
    }

    /// Reads both header values; nil when either is missing or malformed.
    public init?(mode: String?, time: String?) {
        guard let mode, let time, (1...4).contains(mode.utf8.count), let bits = UInt32(mode, radix: 8),
            bits <= 0o7777
        else { return nil }
        let parts = time.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[1].utf8.count == 9, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }),
            let seconds = Int(parts[0]), seconds >= 0, let nanoseconds = Int(parts[1])
        else { return nil }
        self.init(mode: bits, seconds: seconds, nanoseconds: nanoseconds)
    }
}
