import Foundation
import Testing

/// The outside tools in `../shared/tools` next to the package (`mktree.py`, Fedora-shaped
/// trees; `treechurn.py`, an independent generator of random operations, written apart
/// from this project). CI puts them there, read-only; a user's clone has none. The tests
/// that need them carry `.enabled(if: SharedTools.available, SharedTools.absence)`: they
/// run where the tools are and are reported skipped, with the reason, where they are not.
public enum SharedTools {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    /// `<package>/../shared/tools`, from this file's place in the package.
    public static let directory: String = {
        let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return package.deletingLastPathComponent().appendingPathComponent("shared/tools").standardizedFileURL.path
    }()

    /// Whether `treechurn.py` and `mktree.py` are there.
    public static var available: Bool {
        ["treechurn.py", "mktree.py"].allSatisfy { FileManager.default.isReadableFile(atPath: "\(directory)/\($0)") }
    }

    /// Why a test that needs them is skipped.
    public static var absence: Comment {
        "needs treechurn.py and mktree.py in \(directory) (next to the clone, as CI has them); not in this clone"
    }

    public static func path(_ tool: String) throws -> String {
        let path = "\(directory)/\(tool)"
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw Failure(
                description: "\(tool) not found at '\(path)' (expected in ../shared/tools next to the package)")
        }
        return path
    }

    /// Runs `python3 TOOL ARGUMENTS`; throws with its output when it fails.
    @discardableResult
    public static func run(_ tool: String, _ arguments: [String]) throws -> String {
        let result = try Command.run("/usr/bin/python3", [try path(tool)] + arguments)
        let output = String(decoding: result.stdout, as: UTF8.self) + result.stderr
        guard result.status == 0 else { throw Failure(description: "\(tool) \(arguments) failed: \(output)") }
        return output
    }

    /// True when the long runs were asked for (`QUICKMIRROR_STRESS=1`).
    public static var stress: Bool { ProcessInfo.processInfo.environment["QUICKMIRROR_STRESS"] == "1" }
}
