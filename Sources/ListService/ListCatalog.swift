import ChangeStream
import FileList
import Foundation
import Logging
import Synchronization

/// The lists a server publishes, each at its current version, with the deltas that lead
/// to it and the subscribers waiting for the next generation.
///
/// The daemon (or a relay told by quick-mirror) calls `refresh` after it replaced lists;
/// hashing and diffing a 100 MB list takes a fraction of a second, so it runs on the
/// catalog's own queue, never on the daemon's event loop.
public final class ListCatalog: Sendable {
    /// What `/changes` answers.
    public enum Changes: Sendable {
        case unchanged
        case delta([UInt8])
        /// The client's version is unknown here (too old, from before a restart, or the
        /// list is not in an order deltas can describe): it must fetch the whole list.
        case gone
    }

    struct State {
        var current: [String: ListVersion] = [:]
        var journal: [String: [FileListDelta]] = [:]
        /// Encoded deltas to the current version, by list and starting digest: every
        /// follower of a stream asks for the same one at the same moment.
        var combined: [String: [String: [UInt8]]] = [:]
        var generation = 0
        var announcement: Announcement?
        var subscribers: [Int: AsyncStream<Announcement>.Continuation] = [:]
        var nextSubscriber = 0
    }

    /// Deltas kept per list; older clients get 410. Deltas that add up to more than half
    /// the list are not worth sending: the oldest go first.
    static let journalLength = 64

    /// URL path (below `/`) -> the file it serves.
    public let files: [String: String]
    /// The URL paths, in the order given.
    public let lists: [String]
    public let host: String
    let logger: Logger
    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "quickmirror.list-catalog")

    /// `lists` pairs each URL path with its file.
    public init(lists: [(path: String, file: String)], host: String, logger: Logger) {
        self.files = Dictionary(lists.map { ($0.path, $0.file) }, uniquingKeysWith: { first, _ in first })
        self.lists = lists.map(\.path)
        self.host = host
        self.logger = logger
    }

    public var announcement: Announcement? { state.withLock { $0.announcement } }

    public func version(of path: String) -> ListVersion? { state.withLock { $0.current[path] } }

    /// Re-reads the lists in the background; `upstream` is the chain of hops that brought
    /// the change (empty at the origin).
    public func refresh(upstream: [Hop] = []) {
        queue.async { self.update(upstream: upstream) }
    }

    /// Re-reads every list whose file changed; announces a new generation when one did,
    /// or when there was none yet. Returns the new announcement, if any.
    @discardableResult
    public func refreshNow(upstream: [Hop] = []) -> Announcement? {
        queue.sync { update(upstream: upstream) }
    }

    /// On the queue only: one refresh at a time, each diffing against the version the
    /// previous one installed.
    private func update(upstream: [Hop]) -> Announcement? {
        var changed: [(ListVersion, FileListDelta?)] = []
        var unreadable: [String] = []
        for path in lists {
            let previous = version(of: path)
            let opened: (ListVersion, [UInt8])?
            do {
                opened = try ListVersion.open(files[path] ?? path, path: path, unless: previous)
            } catch {
                // Said once, not at every check while a relay waits for its first sync.
                if previous != nil || announcement == nil {
                    logger.warning("list not served", metadata: ["list": "\(path)", "error": "\(error)"])
                }
                unreadable.append(path)
                continue
            }
            guard let (version, bytes) = opened else { continue }
            if let previous, previous.digest == version.digest {
                changed.append((version, nil))
                continue
            }
            changed.append((version, delta(from: previous, to: version, newBytes: bytes)))
        }
        let host = self.host
        let announcement: Announcement? = state.withLock { state in
            // A list that stops being served is news too; one that was never served is not.
            var contentChanged = unreadable.contains { state.current[$0] != nil }
            for path in unreadable {
                state.current[path] = nil
                state.journal[path] = nil
                state.combined[path] = nil
            }
            for (version, delta) in changed {
                let previous = state.current[version.path]
                state.current[version.path] = version
                guard previous?.digest != version.digest else { continue }
                contentChanged = true
                var journal = state.journal[version.path] ?? []
                if let delta { journal.append(delta) } else { journal = [] }
                while journal.count > Self.journalLength
                    || journal.reduce(0, { $0 + $1.encodedByteCount }) > version.size / 2
                {
                    journal.removeFirst()
                }
                state.journal[version.path] = journal
                state.combined[version.path] = nil
            }
            guard contentChanged || state.announcement == nil else { return nil }
            state.generation += 1
            let announcement = Announcement(
                generation: state.generation, lists: state.current.mapValues(\.etag),
                hops: upstream + [Hop(host: host, generation: state.generation)])
            state.announcement = announcement
            for continuation in state.subscribers.values { continuation.yield(announcement) }
            return announcement
        }
        if let announcement {
            logger.info(
                "lists announced",
                metadata: [
                    "generation": "\(announcement.generation)", "route": "\(announcement.route)",
                    "subscribers": "\(state.withLock { $0.subscribers.count })",
                ])
        }
        return announcement
    }

    private func delta(from previous: ListVersion?, to version: ListVersion, newBytes: [UInt8]) -> FileListDelta? {
        guard let previous else { return nil }
        do {
            return try FileListDelta.make(
                from: try previous.bytes(), to: newBytes, base: previous.digest, result: version.digest)
        } catch {
            // A list in another order (an upstream's reference list a relay passes on)
            // has no delta: its clients fetch it whole.
            logger.debug("no delta for this list", metadata: ["list": "\(version.path)", "reason": "\(error)"])
            return nil
        }
    }

    /// The edits from the version whose digest is `since` to the current one, and the
    /// version they lead to (one snapshot: its ETag goes with the delta).
    public func changes(of path: String, since digest: String) -> (Changes, ListVersion)? {
        let (current, journal, cached) = state.withLock {
            ($0.current[path], $0.journal[path] ?? [], $0.combined[path]?[digest])
        }
        guard let current else { return nil }
        if current.digest == digest { return (.unchanged, current) }
        if let cached { return (.delta(cached), current) }
        guard let start = journal.firstIndex(where: { $0.base == digest }), journal.last?.result == current.digest
        else { return (.gone, current) }
        let encoded: [UInt8]
        do {
            var combined = journal[start]
            for next in journal[(start + 1)...] { combined = try combined.followed(by: next) }
            encoded = combined.encoded()
        } catch {
            logger.warning("cannot combine deltas", metadata: ["list": "\(path)", "error": "\(error)"])
            return (.gone, current)
        }
        // A delta as big as the list saves nothing and costs the client a rebuild.
        guard encoded.count < current.size / 2 else { return (.gone, current) }
        state.withLock { state in
            if state.current[path]?.digest == current.digest { state.combined[path, default: [:]][digest] = encoded }
        }
        return (.delta(encoded), current)
    }

    /// The current announcement first (when there is one), then every new one.
    public func subscribe() -> AsyncStream<Announcement> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: Announcement.self, bufferingPolicy: .bufferingNewest(8))
        let id = state.withLock { state in
            let id = state.nextSubscriber
            state.nextSubscriber += 1
            state.subscribers[id] = continuation
            if let announcement = state.announcement { continuation.yield(announcement) }
            return id
        }
        continuation.onTermination = { [weak self] _ in
            self?.state.withLock { $0.subscribers[id] = nil }
        }
        return stream
    }

    public var subscriberCount: Int { state.withLock { $0.subscribers.count } }
}
