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
