import CSystemd

/// The parts of libsystemd a service needs: readiness and status notifications, the
/// watchdog, and the journal. Outside systemd (no `NOTIFY_SOCKET`) notifications are
/// no-ops, as sd_notify(3) specifies.
public enum Systemd {
    /// Sends a notification such as `READY=1` or `STATUS=Scanning`; returns whether a
    /// service manager received it.
    @discardableResult
    public static func notify(_ state: String) -> Bool {
        sd_notify(0, state) > 0
    }

    /// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC`, or nil when the service
    /// has no watchdog.
    public static var watchdogInterval: Duration? {
        var microseconds: UInt64 = 0
        guard sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 else { return nil }
        return .microseconds(Int64(microseconds / 2))
    }

    /// Sends one journal entry made of `FIELD=value` strings (`MESSAGE=` among them).
    public static func sendToJournal(_ fields: [String]) {
        let buffers = fields.map { Array($0.utf8) }
        var vectors: [iovec] = []
        for index in buffers.indices {
            buffers[index].withUnsafeBytes { bytes in
                vectors.append(
                    iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress), iov_len: bytes.count))
            }
        }
        // The pointers stay valid: `buffers` lives until after the call.
        withExtendedLifetime(buffers) { _ = sd_journal_sendv(vectors, Int32(vectors.count)) }
    }

    /// Whether standard error is connected to the journal (systemd sets JOURNAL_STREAM).
    public static var stderrIsJournal: Bool {
        getenv("JOURNAL_STREAM") != nil
    }
}

#if canImport(Glibc)
    import Glibc
#endif
