import Foundation
import LinuxCalls
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// A kernel event source read on a thread of its own, as soon as its events arrive; the
/// daemon polls `fileDescriptor` (an eventfd) and takes what was read.
///
/// The daemon's loop is busy for the whole of a scan or a publish (seconds at millions of
/// entries). An event read that late names a file that may be gone: inotify learns a
/// file's inode by stat'ing the name it reports, and a hard link made and removed in the
/// meantime leaves its other names' new ctime unseen. A kernel queue left unread also
/// fills up (inotify's 16,384 events), and an overflow costs a rescan of the whole tree.
public final class EventReaderThread: EventSource {
    public let base: any EventSource
    private let ready: EventCounter
    private let stop: EventCounter
    private let state = Mutex(State())
    private let finished = DispatchSemaphore(value: 0)

    struct State {
        var events: [WatchEvent] = []
        var error: WatchError?
        var overflowed = false
        var closed = false
    }

    /// Events held before they are replaced by one overflow (a full rescan): about 200 MB.
    static let limit = 1_000_000

    public init(_ base: any EventSource) throws(WatchError) {
        self.base = base
        do {
            ready = try EventCounter()
            stop = try EventCounter()
        } catch {
            throw WatchError("\(error)")
        }
        let thread = Thread { [self] in
            readUntilStopped()
            finished.signal()
        }
        thread.name = "\(base.name) reader"
        thread.start()
    }

    deinit { close() }

    /// Ends the reading thread and waits for it. Safe to call more than once.
    public func close() {
        let first = state.withLock { state in
            defer { state.closed = true }
            return !state.closed
        }
        guard first else { return }
        stop.signal()
        finished.wait()
    }

    public var name: String { base.name }
    public var fileDescriptor: FileDescriptor { ready.descriptor }
    public var watchCount: Int { base.watchCount }
    public var failure: WatchError? { base.failure }
    public func directoryOpened(_ directory: FileDescriptor, path: [UInt8]) {
        base.directoryOpened(directory, path: path)
    }
    public func forget(subtree path: [UInt8]) { base.forget(subtree: path) }

    public func readEvents() throws(WatchError) -> [WatchEvent] {
        ready.reset()
        let (events, error) = state.withLock { state in
            defer {
                state.events = []
                state.overflowed = false
            }
            return (state.overflowed ? [.overflow] : state.events, state.error)
        }
        if let error, events.isEmpty { throw error }
        return events
    }

    private func readUntilStopped() {
        var descriptors = [
            pollfd(fd: base.fileDescriptor.rawValue, events: Int16(POLLIN), revents: 0),
            pollfd(fd: stop.descriptor.rawValue, events: Int16(POLLIN), revents: 0),
        ]
        while true {
            descriptors[0].revents = 0
            descriptors[1].revents = 0
            do {
                _ = try Linux.poll(&descriptors, until: nil)
            } catch {
                fail(WatchError("\(base.name): \(error)"))
                return
            }
            if descriptors[1].revents != 0 { return }
            let events: [WatchEvent]
            do {
                events = try base.readEvents()
            } catch {
                fail(error)
                return
            }
            guard !events.isEmpty else { continue }
            state.withLock { state in
                guard !state.overflowed else { return }
                state.events += events
                if state.events.count > Self.limit {
                    state.events = []
                    state.overflowed = true
                }
            }
            ready.signal()
        }
    }

    private func fail(_ error: WatchError) {
        state.withLock { $0.error = $0.error ?? error }
        ready.signal()
    }
}
