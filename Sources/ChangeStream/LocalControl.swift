import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Where a local filelistd (daemon or relay) listens for commands, and the client side
/// of that socket: `filelistd rescan`/`status`, and quick-mirror telling the relay
/// that serves its tree that new lists are installed.
public enum LocalControl {
    /// One file name per tree for the lock and the socket, like `systemd-escape --path`;
    /// a long path is shortened with a hash, as a socket path holds 107 bytes at most.
    public static func runtimeKey(root: String, runtimeDirectory: String) -> String {
        let trimmed = root.split(separator: "/").joined(separator: "-")
        guard !trimmed.isEmpty else { return "-" }
        guard runtimeDirectory.utf8.count + trimmed.utf8.count > 90 else { return trimmed }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in root.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return String(trimmed.suffix(24)) + "-" + String(hash, radix: 16)
    }

    /// The one spelling of a tree's path that both sides name its socket by: absolute,
    /// without `.`, `..` or a trailing slash.
    public static func absolutePath(_ path: String) -> String {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        let standardized = URL(fileURLWithPath: absolute).standardizedFileURL.path
        return standardized.count > 1 && standardized.hasSuffix("/") ? String(standardized.dropLast()) : standardized
    }

    public static func socketPath(root: String, runtimeDirectory: String) -> String {
        "\(runtimeDirectory)/\(runtimeKey(root: root, runtimeDirectory: runtimeDirectory)).sock"
    }

    /// Sends one command line and returns the whole reply.
    public static func send(_ command: String, to path: String) throws(LocalControlError) -> String {
        guard path.utf8.count < 108 else { throw LocalControlError("control socket path '\(path)' is too long") }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw LocalControlError("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard withAddress(path, { connect(fd, $0, $1) }) == 0 else {
            throw LocalControlError("no filelistd answers on '\(path)': \(String(cString: strerror(errno)))")
        }
        let request = Array("\(command)\n".utf8)
        _ = request.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        var reply: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            reply += chunk[..<count]
        }
        return String(decoding: reply, as: UTF8.self)
    }

    public static func withAddress<R>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8.prefix(raw.count - 1))
            raw.copyBytes(from: bytes + [0])
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }
}

public struct LocalControlError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
