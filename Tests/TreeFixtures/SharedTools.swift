import Foundation

/// The outside tools in `../shared/tools` next to the package (`mktree.py`, Fedora-shaped
/// trees; `treechurn.py`, an independent generator of random operations). CI puts them
/// there, read-only. A test that needs one fails, naming the path it looked at, rather
/// than skipping: a missing tool must not turn into a test that checks nothing.
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
