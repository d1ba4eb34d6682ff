import CLinuxFS
import ChangeStream
import Foundation
import LinuxCalls
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// The daemon's lock: one daemon per tree, whatever runtime directory each was given.
///
/// `flock` on a descriptor of the tree's top directory writes nothing anywhere, and the
/// kernel drops it when the process dies; the holder's pid comes from /proc/locks.
struct TreeLock: ~Copyable {
    let directory: FileDescriptor
    let lock: FileLock

    init(root: String) throws(DaemonError) {
        let directory: FileDescriptor
        do {
            directory = try Linux.openat(nil, root, flags: O_RDONLY | O_DIRECTORY)
        } catch {
            throw DaemonError("cannot watch '\(root)': \(error.errno)")
        }
        do {
            lock = try FileLock(descriptor: directory, displayPath: root)
        } catch {
            try? directory.close()
            switch error {
            case .held(_, let holder):
                throw DaemonError(
                    "another filelistd (\(holder.map { "pid \($0)" } ?? "pid unknown")) is already watching '\(root)'")
            case .system(let failure):
                throw DaemonError("cannot lock '\(root)': \(failure)")
            }
        }
        self.directory = directory
    }

    deinit { try? directory.close() }
}

/// A listening Unix socket for `filelistd rescan` and `filelistd status`.
struct ControlSocket: ~Copyable {
    let descriptor: FileDescriptor
    let path: String

    init(path: String) throws(DaemonError) {
        self.path = path
        let directory = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw DaemonError("cannot create runtime directory '\(directory)': \(error.localizedDescription)")
        }
        guard path.utf8.count < 108 else {
            throw DaemonError("control socket path '\(path)' is too long: choose a shorter --runtime-directory")
        }
        let fd = socket(
            AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw DaemonError("socket: \(Errno(rawValue: errno))") }
        // The tree's lock is held, so a socket file left here belongs to a daemon that died.
        unlink(path)
        guard LocalControl.withAddress(path, { bind(fd, $0, $1) }) == 0, listen(fd, 8) == 0 else {
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
        guard fd >= 0 else { return nil }
        // A client that connects and says nothing must not stall the event loop.
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return FileDescriptor(rawValue: fd)
    }

    /// Reads one command line (up to `limit` bytes) from a client.
    static func command(from client: FileDescriptor, limit: Int = 256) -> String {
        var request: [UInt8] = []
        var byte: UInt8 = 0
        while request.count < limit, read(client.rawValue, &byte, 1) == 1, byte != 0x0A { request.append(byte) }
        return String(decoding: request, as: UTF8.self).trimmingCharacters(in: .whitespaces)
    }

    static func reply(_ text: String, to client: FileDescriptor) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { write(client.rawValue, $0.baseAddress, $0.count) }
    }

    /// Client side: sends one command and returns the whole reply.
    static func send(_ command: String, to path: String) throws(DaemonError) -> String {
        do {
            return try LocalControl.send(command, to: path)
        } catch {
            throw DaemonError(error.description)
        }
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
