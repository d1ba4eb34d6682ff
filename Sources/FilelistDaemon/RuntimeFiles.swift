import CLinuxFS
import Foundation
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// The daemon's lock: one daemon per tree. Lives in the runtime directory, never in the
/// tree, and is released by the kernel when the process dies.
struct RuntimeLock: ~Copyable {
    let descriptor: FileDescriptor

    init(path: String, root: String) throws(DaemonError) {
        let directory = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw DaemonError("cannot create runtime directory '\(directory)': \(error.localizedDescription)")
        }
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw DaemonError("cannot open lock '\(path)': \(Errno(rawValue: errno))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(
                in: .whitespacesAndNewlines)
            close(fd)
            throw DaemonError(
                "another filelistd is already watching '\(root)' (lock \(path) held by pid \(holder ?? "?"))")
        }
        ftruncate(fd, 0)
        let pid = Array("\(getpid())\n".utf8)
        _ = pid.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        descriptor = FileDescriptor(rawValue: fd)
    }

    deinit { try? descriptor.close() }
}

/// A listening Unix socket for `filelistd rescan` and `filelistd status`.
struct ControlSocket: ~Copyable {
    let descriptor: FileDescriptor
    let path: String

    init(path: String) throws(DaemonError) {
        self.path = path
        guard path.utf8.count < 108 else {
            throw DaemonError("control socket path '\(path)' is too long: choose a shorter --runtime-directory")
        }
        let fd = socket(
            AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw DaemonError("socket: \(Errno(rawValue: errno))") }
        // The lock is held, so a socket file left here belongs to a daemon that died.
        unlink(path)
        guard Self.withAddress(path, { bind(fd, $0, $1) }) == 0, listen(fd, 8) == 0 else {
            let error = Errno(rawValue: errno)
            close(fd)
            throw DaemonError("cannot listen on control socket '\(path)': \(error)")
        }
        chmod(path, 0o600)
        descriptor = FileDescriptor(rawValue: fd)
    }

    deinit {
        try? descriptor.close()
        unlink(path)
    }

    /// Accepts one pending client, if any.
    func accept() -> FileDescriptor? {
        let fd = qm_accept(descriptor.rawValue)
        return fd >= 0 ? FileDescriptor(rawValue: fd) : nil
    }

    static func withAddress<R>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        precondition(bytes.count < MemoryLayout.size(ofValue: address.sun_path), "socket path too long: \(path)")
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                body($0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
    }

    /// Client side: sends one command and returns the whole reply.
    static func send(_ command: String, to path: String) throws(DaemonError) -> String {
        guard path.utf8.count < 108 else { throw DaemonError("control socket path '\(path)' is too long") }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw DaemonError("socket: \(Errno(rawValue: errno))") }
        defer { close(fd) }
        guard withAddress(path, { connect(fd, $0, $1) }) == 0 else {
            throw DaemonError("no filelistd answers on '\(path)': \(Errno(rawValue: errno))")
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
}

/// The executable calls this first thing in `main`.
public enum SignalReaderSetup {
    public static func blockSignals() { SignalReader.blockSignals() }
}

/// SIGHUP, SIGTERM and SIGINT as a readable descriptor, so the event loop handles them
/// like any other input. The signals are blocked in every thread (see `blockSignals`).
struct SignalReader: ~Copyable {
    let descriptor: FileDescriptor

    static let handled: [Int32] = [SIGHUP, SIGTERM, SIGINT]

    /// Must run before any thread starts, so that every thread inherits the mask and no
    /// thread takes SIGHUP's default action (terminate).
    static func blockSignals() {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in handled { sigaddset(&set, signal) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    init() throws(DaemonError) {
        let fd = Self.handled.withUnsafeBufferPointer { qm_signalfd($0.baseAddress, Int32($0.count)) }
        guard fd >= 0 else { throw DaemonError("signalfd: \(Errno(rawValue: errno))") }
        descriptor = FileDescriptor(rawValue: fd)
    }

    deinit { try? descriptor.close() }

    /// Signals received since the last call.
    func read() -> [Int32] {
        var signals: [Int32] = []
        while true {
            let signal = qm_read_signal(descriptor.rawValue)
            if signal < 0 { return signals }
            signals.append(signal)
        }
    }
}

public struct DaemonError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
