import Dispatch
import LinuxCalls
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// How the request log's lines look; the rest of the log goes through swift-log.
public enum RequestLogStyle: Sendable {
    /// `2026-12-01T10:00:00+0000 info mirror-cache: request client=...`, like the
    /// swift-log lines around it on a terminal or in a file.
    case timestamped
    /// `<6>request client=...`: journald's stream protocol, which stamps each line itself
    /// and files it at the priority in brackets (6, info).
    case journalStream
    /// No request lines (the logger's level is above info).
    case off
}

/// Writes the request log: one line per request, in batches.
///
/// Through swift-log, each line cost a metadata dictionary, its formatting and a
/// write(2): a tenth of a small hit's time at 10,000 requests a second. Here a line is
/// formatted straight into bytes and appended to a buffer; the buffer goes out on a
/// queue of its own at most every 50 ms, or at once past 64 KiB. Like nginx's
/// `access_log ... buffer= flush=`, a crash can lose the last 50 ms of lines; a shutdown
/// (`flush()`) loses none.
final class RequestLogWriter: Sendable {
    let style: RequestLogStyle
    private let label: String
    private let descriptor: Int32
    private let queue = DispatchQueue(label: "mirror-cache.request-log")
    private struct Pending {
        var bytes: [UInt8] = []
        var flushScheduled = false
        var urgentFlushScheduled = false
        /// Lines not kept because the log's reader fell too far behind.
        var dropped = 0
        /// The timestamp text of the second last formatted, reused within that second.
        var second = -1
        var stamp: [UInt8] = []
    }
    private let pending = Mutex(Pending())
    static let flushDelay = DispatchTimeInterval.milliseconds(50)
    static let flushSize = 64 * 1024
    /// Past this much unwritten (a stalled journald, a full pipe), lines are counted and
    /// dropped: serving never waits for the log, and memory does not grow without end.
    static let pendingLimit = 8 << 20

    init(style: RequestLogStyle, label: String, descriptor: Int32 = 2) {
        self.style = style
        self.label = label
        self.descriptor = descriptor
    }

    var isOn: Bool { if case .off = style { false } else { true } }

    /// Queues one line; `served` goes last, as it may hold spaces (`cut (reason)`).
    func record(
        client: String, method: String, uri: String, status: UInt, bytes: Int64, milliseconds: Int64, served: String
    ) {
        guard isOn else { return }
        var line: [UInt8] = []
        line.reserveCapacity(96 + uri.utf8.count)
        line += " request client=".utf8
        Self.appendEscaped(client, to: &line)
        line += " method=".utf8
        Self.appendEscaped(method, to: &line)
        line += " uri=".utf8
        Self.appendEscaped(uri, to: &line)
        line += " status=".utf8
        line += String(status).utf8
        line += " bytes=".utf8
        line += String(bytes).utf8
        line += " ms=".utf8
        line += String(milliseconds).utf8
        line += " served=".utf8
        Self.appendEscaped(served, to: &line)
        line.append(0x0A)
        let now = time(nil)
        enum Flush { case alreadyScheduled, now, later }
        let flush = pending.withLock { pending -> Flush in
            guard pending.bytes.count < Self.pendingLimit else {
                pending.dropped += 1
                return .alreadyScheduled
            }
            switch style {
            case .timestamped:
                if pending.second != now {
                    pending.second = now
                    pending.stamp = Self.stamp(now) + " info \(label):".utf8
                }
                pending.bytes += pending.stamp
                pending.bytes += line
            case .journalStream:
                pending.bytes += "<6>".utf8
                pending.bytes += line.dropFirst()
            case .off:
                return .alreadyScheduled
            }
            // A write already scheduled takes these bytes too, unless they are too many.
            if pending.bytes.count >= Self.flushSize, !pending.urgentFlushScheduled {
                pending.urgentFlushScheduled = true
                return .now
            }
            guard !pending.flushScheduled else { return .alreadyScheduled }
            pending.flushScheduled = true
            return .later
        }
        switch flush {
        case .alreadyScheduled: break
        case .now: queue.async { self.writeOut() }
        case .later: queue.asyncAfter(deadline: .now() + Self.flushDelay) { self.writeOut() }
        }
    }

    /// Writes every line queued so far, and returns when they are written, or after
    /// `timeout` when the log's reader does not take them (a stop must not hang on it).
    func flush(within timeout: DispatchTimeInterval = .seconds(5)) {
        let written = DispatchSemaphore(value: 0)
        queue.async {
            self.writeOut()
            written.signal()
        }
        _ = written.wait(timeout: .now() + timeout)
    }

    /// On the queue only: lines reach the descriptor in the order they were queued.
    private func writeOut() {
        var (bytes, dropped) = pending.withLock { pending in
            pending.flushScheduled = false
            pending.urgentFlushScheduled = false
            defer { (pending.bytes, pending.dropped) = ([], 0) }
            return (pending.bytes, pending.dropped)
        }
        if dropped > 0 {
            let note = "request log: \(dropped) lines dropped, the log's reader fell behind\n"
            switch style {
            case .journalStream: bytes += "<4>\(note)".utf8
            default: bytes += Self.stamp(time(nil)) + " warning \(label): \(note)".utf8
            }
        }
        // A failure means the log's reader went away (a closed pipe, a full disk): the
        // requests are still served; their lines are lost, as they would be anywhere else.
        _ = bytes.withUnsafeBytes { raw in
            try? Linux.writeAll(FileDescriptor(rawValue: descriptor), raw, displayPath: "request log")
        }
    }

    /// Local time as swift-log's stream handler writes it: `2026-12-01T10:00:00+0000`.
    private static func stamp(_ seconds: time_t) -> [UInt8] {
        var clock = seconds
        var parts = tm()
        localtime_r(&clock, &parts)
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 32) { buffer in
            let count = strftime(buffer.baseAddress!, 32, "%Y-%m-%dT%H:%M:%S%z", &parts)
            return UnsafeRawBufferPointer(start: buffer.baseAddress, count: count).map { $0 }
        }
    }

    private static func needsEscape(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == 0x7F || byte == UInt8(ascii: "\\")
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// A request line holds what the client sent: control bytes and backslashes become
    /// `\xHH`, so one request is always one line, and what is read back is what came.
    static func appendEscaped(_ text: String, to line: inout [UInt8]) {
        if !text.utf8.contains(where: needsEscape) {
            line += text.utf8
            return
        }
        for byte in text.utf8 {
            if needsEscape(byte) {
                line += [UInt8(ascii: "\\"), UInt8(ascii: "x"), hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 15)]]
            } else {
                line.append(byte)
            }
        }
    }
}
