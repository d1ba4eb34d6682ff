import Foundation

/// The list digest as `Scripts/list-digest.py` computes it: written apart from the Swift
/// implementation, from the rule in docs/FORMAT.md, so that the two check each other.
public enum ReferenceDigest {
    /// `<package>/Scripts/list-digest.py`, from this file's place in the package.
    public static let script: String = {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Scripts/list-digest.py").path
    }()

    public static func digest(of bytes: [UInt8]) throws -> String {
        let file = NSTemporaryDirectory() + "list-digest-\(UUID().uuidString)"
        guard FileManager.default.createFile(atPath: file, contents: Data(bytes)) else {
            throw SharedTools.Failure(description: "cannot write \(file)")
        }
        defer { try? FileManager.default.removeItem(atPath: file) }
        return try digest(ofFile: file)
    }

    public static func digest(ofFile file: String) throws -> String {
        let result = try Command.run("/usr/bin/python3", [script, file])
        let output = String(decoding: result.stdout, as: UTF8.self)
        guard result.status == 0, let digest = output.split(separator: " ").first, digest.count == 64 else {
            throw SharedTools.Failure(description: "list-digest.py \(file) failed: \(output)\(result.stderr)")
        }
        return String(digest)
    }
}
