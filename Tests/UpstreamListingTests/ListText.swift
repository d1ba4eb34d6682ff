/// A list's bytes written out by hand, as a web server would hold it: tests state each
/// line's fields themselves rather than asking the code under test to write them.
struct ListText {
    struct Line {
        var time: Int64
        var type: String
        var size: Int64
        var path: String
    }

    var lines: [Line]
    /// SHA-256 by path; the SHA1 section names the same paths.
    var sha256: [String: String] = [:]

    var text: String {
        var text = "[Version]\n2\n\n[Files]\n"
        for line in lines { text += "\(line.time)\t\(line.type)\t\(line.size)\t\(line.path)\n" }
        text += "\n[Checksums SHA1]\n"
        for path in sha256.keys.sorted() { text += "\(String(repeating: "1", count: 40))\t\(path)\n" }
        text += "\n[Checksums SHA256]\n"
        for (path, hex) in sha256.sorted(by: { $0.key < $1.key }) { text += "\(hex)\t\(path)\n" }
        return text + "\n[End]\n"
    }

    var bytes: [UInt8] { Array(text.utf8) }
}

extension ListText.Line {
    static func file(_ path: String, _ time: Int64, _ size: Int64) -> Self {
        .init(time: time, type: "f", size: size, path: path)
    }

    static func directory(_ path: String, _ time: Int64) -> Self {
        .init(time: time, type: "d", size: 4096, path: path)
    }

    static func symlink(_ path: String, _ time: Int64, target: String) -> Self {
        .init(time: time, type: "l", size: Int64(target.utf8.count), path: path)
    }
}
