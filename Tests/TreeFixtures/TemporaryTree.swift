import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A directory tree made for one test and removed with it.
public final class TemporaryTree: @unchecked Sendable {
    public let root: String

    /// Where trees are made: `/tmp`, or `QUICKMIRROR_TEST_DIR` (Scripts/fs-matrix.sh points
    /// it at a loop-mounted XFS or btrfs image, to run a suite on that file system).
    public static let parent = ProcessInfo.processInfo.environment["QUICKMIRROR_TEST_DIR"] ?? "/tmp"

    public init(_ label: String = "tree") throws {
        var template = Array("\(Self.parent)/quickmirror-\(label)-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        root = String(cString: made)
        chmod(root, 0o755)
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    public func path(_ relative: String) -> String { relative.isEmpty ? root : "\(root)/\(relative)" }

    @discardableResult
    public func file(_ relative: String, _ contents: String = "", mode: mode_t = 0o644) throws -> String {
        try bytesFile(relative, Array(contents.utf8), mode: mode)
    }

    /// Writes a file, making its directories. A file that exists is replaced by a new
    /// one renamed over it (a new inode, as `FileManager.createFile` gives), so a hard link
    /// to the old one keeps the old contents. System calls rather than FileManager: trees
    /// of thousands of files are made this way, and FileManager's checks took seconds.
    @discardableResult
    public func bytesFile(_ relative: String, _ contents: [UInt8], mode: mode_t = 0o644) throws -> String {
        let full = path(relative)
        var info = stat()
        let replacing = lstat(full, &info) == 0
        let written = replacing ? "\(full).~new~\(UInt64.random(in: 0...UInt64.max))" : full
        func create() -> Int32 { open(written, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600) }
        var fd = create()
        if fd < 0 && errno == ENOENT {
            try makeParent(of: relative)
            fd = create()
        }
        try check(fd < 0 ? -1 : 0, full)
        defer { close(fd) }
        var offset = 0
        while offset < contents.count {
            let count = contents[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress!, $0.count) }
            if count < 0 && errno == EINTR { continue }
            try check(count < 0 ? -1 : 0, full)
            offset += count
        }
        try check(fchmod(fd, mode), full)
        if replacing { try check(rename(written, full), full) }
        return full
    }

    /// A file whose name is raw bytes (for names that are not valid UTF-8).
    public func rawNameFile(directory: String, name: [UInt8]) throws {
        var bytes = Array(path(directory).utf8) + [0x2F] + name + [0]
        let fd = bytes.withUnsafeMutableBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_CREAT | O_WRONLY, 0o644) }
        }
        try check(fd < 0 ? -1 : 0, path(directory))
        close(fd)
    }

    public func directory(_ relative: String, mode: mode_t = 0o755) throws {
        try FileManager.default.createDirectory(atPath: path(relative), withIntermediateDirectories: true)
        try check(chmod(path(relative), mode), relative)
    }

    public func symlink(_ relative: String, to target: String) throws {
        try makeParent(of: relative)
        try check(Glibc.symlink(target, path(relative)), relative)
    }

    public func hardLink(_ relative: String, to existing: String) throws {
        try makeParent(of: relative)
        try check(link(path(existing), path(relative)), relative)
    }

    public func fifo(_ relative: String, mode: mode_t = 0o644) throws {
        try check(mkfifo(path(relative), mode), relative)
        try check(chmod(path(relative), mode), relative)
    }

    public func setMode(_ relative: String, _ mode: mode_t) throws {
        try check(chmod(path(relative), mode), relative)
    }

    public func remove(_ relative: String) throws {
        try FileManager.default.removeItem(atPath: path(relative))
    }

    /// `max(mtime, ctime)` of the entry itself, as a list must show it.
    public func listTime(_ relative: String) throws -> Int64 {
        var info = stat()
        try check(lstat(path(relative), &info), relative)
        return Int64(max(info.st_mtim.tv_sec, info.st_ctim.tv_sec))
    }

    /// The same for a path given as raw bytes (a name that is not UTF-8).
    public func listTime(rawPath: [UInt8]) throws -> Int64 {
        var info = stat()
        let full = Array(root.utf8) + [0x2F] + rawPath + [0]
        let result = full.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { lstat($0.baseAddress!, &info) }
        }
        try check(result, String(decoding: rawPath, as: UTF8.self))
        return Int64(max(info.st_mtim.tv_sec, info.st_ctim.tv_sec))
    }

    public func size(_ relative: String) throws -> Int64 {
        var info = stat()
        try check(lstat(path(relative), &info), relative)
        return Int64(info.st_size)
    }

    public func inode(_ relative: String) throws -> UInt64 {
        var info = stat()
        try check(stat(path(relative), &info), relative)
        return UInt64(info.st_ino)
    }

    public func read(_ relative: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: path(relative))))
    }

    /// Names in a directory, for checking that nothing was left behind.
    public func names(in relative: String = "") throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path(relative)).sorted()
    }

    private func makeParent(of relative: String) throws {
        try FileManager.default.createDirectory(
            atPath: (path(relative) as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    }

    private func check(_ result: Int32, _ what: String) throws {
        if result != 0 {
            throw NSError(
                domain: "TemporaryTree", code: Int(errno),
                userInfo: [NSLocalizedDescriptionKey: "\(what): \(String(cString: strerror(errno)))"])
        }
    }
}
