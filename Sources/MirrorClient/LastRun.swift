import Foundation
import Publish

/// TIMEFILE: the start of the last successful run, written as the reference writes it
/// (`LASTTIME=<seconds>`, a line its `source` reads), so either client can take over
/// from the other. A bare number (quick-mirror before 2026-12) is read too.
public enum LastRun {
    public static func read(_ path: String) -> Int64? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            var value = line.trimmingCharacters(in: .whitespaces)
            if value.hasPrefix("LASTTIME=") { value = String(value.dropFirst("LASTTIME=".count)) }
            if let seconds = Int64(value) { return seconds }
        }
        return nil
    }

    public static func write(_ seconds: Int64, to path: String) throws {
        let file = try AtomicFile(target: path)
        try file.write(Array("LASTTIME=\(seconds)\n".utf8))
        try file.commit()
    }
}

/// `TIMEFILE.unfinished`: made before a run begins changing the tree, removed once its
/// lists are installed. The installed lists stand for the tree in the next run's plan;
/// a run that stopped in between (killed, a failed transfer, a full disk, a checksum
/// still wrong, or -N) may have fetched files that the next lists no longer name, and
/// that a comparison of lists would never delete. While the mark is there, a run
/// compares with the tree itself, as -a does.
public struct UnfinishedRun: Sendable {
    public let path: String

    public init(timeFile: String) { path = timeFile + ".unfinished" }

    public var isMarked: Bool { FileManager.default.fileExists(atPath: path) }

    /// Durably, before the first change: a mark lost in a crash would leave the stray
    /// files in place for good.
    public func mark(started: Int64) throws {
        do {
            let file = try AtomicFile(target: path)
            try file.write(Array("a run that began at \(started) has not installed its lists\n".utf8))
            try file.commit()
        } catch {
            throw SyncError("cannot write \(path) before changing the mirror: \(error); nothing was changed")
        }
    }

    public func clear() { try? FileManager.default.removeItem(atPath: path) }
}
