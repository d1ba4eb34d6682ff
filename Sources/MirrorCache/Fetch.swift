import Foundation
import LinuxCalls
import Synchronization
import SystemPackage
import UpstreamListing

/// One upstream fetch of one object, shared by every request for it while it runs: the
/// bytes go to a partial file, and readers send from that file what has been written so
/// far, waiting for more; nobody waits for the whole file, and a slow reader costs no
/// memory (the bytes wait on disk, not in a buffer).
///
/// The last byte is held back from readers until the whole object is verified (length,
/// and the list's size and checksum): a client can never have received a complete body
/// the cache then rejects; when verification fails its connection is cut instead.
final class Fetch: Sendable {
    let target: RequestTarget
    let listed: ListedFile?
    /// The cached copy's validators when this fetch revalidates it (conditional GET).
    let conditional: CacheStore.Validators?

    /// What the upstream answered, known before any body byte.
    enum Head: Sendable {
        case body(ObjectInfo)
        /// Not a body to cache (404, 403...): passed on to the clients as it is.
        case status(Int, String)
        case notModified
        case unreachable(String)
    }

    enum Progress: Sendable, Equatable {
        /// Bytes up to this offset (exclusive) may be sent.
        case available(Int64)
        /// All bytes are verified and the reader has them all.
        case done
        case failed(String)
        /// Storing stopped at this offset (disk full, a name that cannot be made): the
        /// reader takes the rest straight from the upstream.
        case passThrough(from: Int64)
    }

    private struct State {
        var head: Head?
        var written: Int64 = 0
        var verified = false
        var failure: String?
        var storageStopped: Int64?
        var descriptor: SystemPackage.FileDescriptor?
        var headWaiters: [CheckedContinuation<Head, Never>] = []
        var progressWaiters: [CheckedContinuation<Void, Never>] = []
        var notified: (bytes: Int64, at: ContinuousClock.Instant) = (0, .now)
        /// Set when a new list generation names the path while it is fetched: the bytes
        /// still reach the clients that asked, but they may be the old version's.
        var superseded = false
        var ended = false
        var endWaiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())

    init(target: RequestTarget, listed: ListedFile?, conditional: CacheStore.Validators?) {
        self.target = target
        self.listed = listed
        self.conditional = conditional
    }

    // MARK: Readers

    func head() async -> Head {
        await withCheckedContinuation { continuation in
            let head: Head? = state.withLock { state in
                if let head = state.head { return head }
                state.headWaiters.append(continuation)
                return nil
            }
            if let head { continuation.resume(returning: head) }
        }
    }

    /// A descriptor of the partial file the reader owns (and closes); nil when the fetch
    /// has no file any more (finished or stopped storing): look again.
    func attachReader() -> SystemPackage.FileDescriptor? {
        state.withLock { state in
            guard let descriptor = state.descriptor else { return nil }
            return try? Linux.duplicate(descriptor, displayPath: target.key)
        }
    }

    func progress(after offset: Int64) async -> Progress {
        while true {
            let ready: Progress? = state.withLock { state in Self.check(state, offset) }
            if let ready { return ready }
            await withCheckedContinuation { continuation in
                let now: Bool = state.withLock { state in
                    if Self.check(state, offset) != nil { return true }
                    state.progressWaiters.append(continuation)
                    return false
                }
                if now { continuation.resume() }
            }
        }
    }

    /// Returns once the body is stored, rejected or handed to pass-through.
    func completion() async {
        var offset: Int64 = 0
        while case .available(let upTo) = await progress(after: offset) { offset = upTo }
    }

    private static func check(_ state: State, _ offset: Int64) -> Progress? {
        if let failure = state.failure { return .failed(failure) }
        if let stop = state.storageStopped { return offset < stop ? .available(stop) : .passThrough(from: stop) }
        if state.verified { return offset < state.written ? .available(state.written) : .done }
        let visible = state.written - 1
        return offset < visible ? .available(visible) : nil
    }

    // MARK: The transfer's side

    var written: Int64 { state.withLock { $0.written } }
    var isSuperseded: Bool { state.withLock { $0.superseded } }
    var knownHead: Head? { state.withLock { $0.head } }

    func supersede() { state.withLock { $0.superseded = true } }

    /// Whether a new request may read its body from this fetch: only while the body is
    /// still coming. Once it is verified (the copy is being made durable), rejected or
    /// handed to pass-through, a request waits for `ended()` and looks at the store again,
    /// deciding as it would for a stored copy.
    var isComing: Bool {
        state.withLock { $0.failure == nil && $0.storageStopped == nil && !$0.verified }
    }

    /// Returns once the fetch is over and no longer joinable: its copy stored, or not.
    func ended() async {
        await withCheckedContinuation { continuation in
            let now: Bool = state.withLock { state in
                if state.ended { return true }
                state.endWaiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// Called once the fetch is out of the cache's table of fetches.
    func end() {
        let waiters = state.withLock { state in
            state.ended = true
            defer { state.endWaiters = [] }
            return state.endWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func setDescriptor(_ descriptor: SystemPackage.FileDescriptor) { state.withLock { $0.descriptor = descriptor } }

    func setHead(_ head: Head) {
        let waiters = state.withLock { state in
            state.head = head
            defer { state.headWaiters = [] }
            return state.headWaiters
        }
        for waiter in waiters { waiter.resume(returning: head) }
    }

    /// Wakes readers every 256 KiB or 50 ms: waking a hundred readers per network chunk
    /// would cost more than the copying.
    func appended(_ count: Int64) {
        let waiters: [CheckedContinuation<Void, Never>] = state.withLock { state in
            state.written += count
            let now = ContinuousClock.now
            guard
                state.written - state.notified.bytes >= 256 * 1024 || now - state.notified.at > .milliseconds(50)
                    || state.notified.bytes == 0
            else { return [] }
            state.notified = (state.written, now)
            defer { state.progressWaiters = [] }
            return state.progressWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func stopStoring() { finish { $0.storageStopped = $0.written } }
    func verify() { finish { $0.verified = true } }
    func fail(_ reason: String) { finish { $0.failure = reason } }

    /// The fetch's file descriptor closes once no new reader can attach (readers hold
    /// their own duplicates).
    func closeDescriptor() -> SystemPackage.FileDescriptor? {
        state.withLock { state in
            defer { state.descriptor = nil }
            return state.descriptor
        }
    }

    private func finish(_ change: (inout State) -> Void) {
        let (progress, heads, head) = state.withLock { state in
            change(&state)
            // Only a fetch that failed before any answer has no head yet.
            let head = state.head ?? .unreachable(state.failure ?? "fetch stopped")
            state.head = head
            defer {
                state.progressWaiters = []
                state.headWaiters = []
            }
            return (state.progressWaiters, state.headWaiters, head)
        }
        for waiter in progress { waiter.resume() }
        for waiter in heads { waiter.resume(returning: head) }
    }
}

/// What a client is told about an object whose body is coming.
struct ObjectInfo: Sendable {
    var total: Int64?
    var lastModified: String?
    var etag: String?
    /// The time the stored copy will carry: the list's, else the upstream's Last-Modified.
    var mtime: Int64?
}
