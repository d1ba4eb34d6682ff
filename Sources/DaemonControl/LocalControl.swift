import Foundation
import ListProtocol
import LinuxCalls
import SystemPackage

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

    /// Sends one command and returns the whole reply.
    public static func send(_ command: ControlCommand, to path: String) throws(LocalControlError) -> String {
        try send(line: command.line, to: path)
    }

    /// Sends a line as typed, unchecked (what an operator sends with socat; the tests'
    /// way to send a malformed command), and returns the whole reply.
    public static func send(line command: String, to path: String) throws(LocalControlError) -> String {
        guard path.utf8.count < 108 else { throw LocalControlError("control socket path '\(path)' is too long") }
        let fd: FileDescriptor
        do {
            fd = try Linux.connectLocal(path: path)
        } catch  where error.call == "socket" {
            throw LocalControlError("socket: \(error.errno)")
        } catch {
            throw LocalControlError("no filelistd answers on '\(path)': \(error.errno)")
        }
        defer { try? fd.close() }
        do {
            try Linux.writeAll(fd, Array("\(command)\n".utf8), displayPath: path)
        } catch {
            throw LocalControlError("cannot send '\(command.prefix(40))' to filelistd on '\(path)': \(error.errno)")
        }
        var reply: [UInt8] = []
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
        defer { chunk.deallocate() }
        while true {
            // The reply ends with the connection; a read that fails (the daemon went
            // away) ends it too, with what came before it: the callers judge the text.
            let count: Int
            do { count = try Linux.read(fd, into: chunk, displayPath: path) } catch { break }
            if count == 0 { break }
            reply += chunk[..<count]
        }
        return String(decoding: reply, as: UTF8.self)
    }
}

public struct LocalControlError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
