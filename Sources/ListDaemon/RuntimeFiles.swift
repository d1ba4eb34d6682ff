import DaemonControl
import CLinuxFS
import ListProtocol
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
final class TreeLock {
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
        do {
            // The tree's lock is held, so a socket file left here belongs to a daemon that died.
            descriptor = try Linux.listenLocal(path: path)
        } catch {
            throw DaemonError("cannot listen on control socket '\(path)': \(error)")
        }
    }

    deinit {
        try? descriptor.close()
        // Clean-up only: a socket file left behind is replaced by the next daemon.
        try? Linux.removeFile(path)
    }

    /// Accepts one pending client, if any. A client that connects and says nothing must
    /// not stall the event loop: its reads time out.
    func accept() -> FileDescriptor? { Linux.acceptLocal(descriptor, receiveTimeout: 5) }

    /// Reads one command line (up to `limit` bytes) from a client.
    static func command(from client: FileDescriptor, limit: Int = 256) -> Result<ControlCommand, ControlCommandError> {
        let line = String(decoding: Linux.readLine(client, limit: limit), as: UTF8.self)
        return Result { () throws(ControlCommandError) in try ControlCommand(line: line) }
    }

    /// A client that went away before the reply loses only its own answer.
    static func reply(_ text: String, to client: FileDescriptor) {
        try? Linux.writeAll(client, Array(text.utf8), displayPath: "control socket client")
    }

    /// Client side: sends one command and returns the whole reply.
    static func send(_ command: ControlCommand, to path: String) throws(DaemonError) -> String {
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
    static func blockSignals() { Linux.blockSignals(handled) }

    init() throws(DaemonError) {
        do {
            descriptor = try Linux.signalDescriptor(Self.handled)
        } catch {
            throw DaemonError("\(error)")
        }
    }

    deinit { try? descriptor.close() }

    /// Signals received since the last call.
    func read() -> [Int32] { Linux.readSignals(descriptor) }
}

public struct DaemonError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
