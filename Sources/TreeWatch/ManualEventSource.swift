import LinuxCalls
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// An event source that a test feeds by hand: the events a kernel would have reported,
/// so that the logic turning events into index mutations runs in-process, one case at
/// a time, with no timing involved.
public final class ManualEventSource: EventSource {
    public let name = "manual"
    /// Readable while events are fed and not read yet (a pipe with a byte in it), so a
    /// daemon's loop wakes up for them as for the kernel's.
    public let fileDescriptor: FileDescriptor
    private let writeEnd: FileDescriptor
    private let state = Mutex(State())

    struct State: ~Copyable {
        var queued: [WatchEvent] = []
        var opened: Set<[UInt8]> = []
        var forgotten: [[UInt8]] = []
        var actions: [[UInt8]: @Sendable () -> Void] = [:]
    }

    public init() throws(WatchError) {
        do {
            (fileDescriptor, writeEnd) = try FileDescriptor.pipe()
            try Linux.setNonBlocking(fileDescriptor, displayPath: "pipe")
        } catch {
            throw WatchError("pipe: \(error)")
        }
    }

    deinit {
        try? fileDescriptor.close()
        try? writeEnd.close()
    }

    public func feed(_ events: [WatchEvent]) {
        let wasEmpty = state.withLock { state in
            defer { state.queued += events }
            return state.queued.isEmpty
        }
        if wasEmpty && !events.isEmpty { _ = try? writeEnd.writeAll([UInt8(1)]) }
    }

    /// Directories the scanner opened (a real source would watch each).
    public var openedDirectories: Set<[UInt8]> { state.withLock { $0.opened } }

    public var watchCount: Int { 0 }

    public var failure: WatchError? { nil }

    /// Runs `action` once, the next time the scanner opens `path` (before it reads it):
    /// a change made between the reads of two directories of one batch, on cue.
    public func whenOpened(_ path: [UInt8], do action: @escaping @Sendable () -> Void) {
        state.withLock { $0.actions[path] = action }
    }

    public func directoryOpened(_ directory: FileDescriptor, path: [UInt8]) {
        let action = state.withLock { state in
            state.opened.insert(path)
            return state.actions.removeValue(forKey: path)
        }
        action?()
    }

    public func readEvents() throws(WatchError) -> [WatchEvent] {
        state.withLock { state in
            defer { state.queued.removeAll() }
            if !state.queued.isEmpty {
                // The one byte `feed` wrote; an empty pipe is no error here.
                var byte: UInt8 = 0
                _ = withUnsafeMutableBytes(of: &byte) { try? Linux.read(fileDescriptor, into: $0, displayPath: "pipe") }
            }
            return state.queued
        }
    }

    public func forget(subtree path: [UInt8]) { state.withLock { $0.forgotten.append(path) } }
}
