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
    /// Never readable (a pipe nobody writes): whoever runs the loop calls `readEvents()`
    /// when it fed some.
    public let fileDescriptor: FileDescriptor
    private let writeEnd: FileDescriptor
    private let state = Mutex(State())

    struct State: ~Copyable {
        var queued: [WatchEvent] = []
        var opened: Set<[UInt8]> = []
        var forgotten: [[UInt8]] = []
    }

    public init() throws(WatchError) {
        do {
            (fileDescriptor, writeEnd) = try FileDescriptor.pipe()
        } catch {
            throw WatchError("pipe: \(error)")
        }
    }

    deinit {
        try? fileDescriptor.close()
        try? writeEnd.close()
    }

    public func feed(_ events: [WatchEvent]) { state.withLock { $0.queued += events } }

    /// Directories the scanner opened (a real source would watch each).
    public var openedDirectories: Set<[UInt8]> { state.withLock { $0.opened } }

    public var watchCount: Int { 0 }

    public var failure: WatchError? { nil }

    public func directoryOpened(_ directory: FileDescriptor, path: [UInt8]) {
        _ = state.withLock { $0.opened.insert(path) }
    }

    public func readEvents() throws(WatchError) -> [WatchEvent] {
        state.withLock { state in
            defer { state.queued.removeAll() }
            return state.queued
        }
    }

    public func forget(subtree path: [UInt8]) { state.withLock { $0.forgotten.append(path) } }
}
