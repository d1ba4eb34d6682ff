import LinuxCalls
import ListProtocol
import FileList
import Foundation
import Logging
import Metrics
import Monitoring
import Publish
import Synchronization

/// The lists a server serves, each at its current version, with the deltas that lead
/// to it, the recent announcements (for clients that reconnect) and the subscribers
/// waiting for the next generation.
///
/// A publisher (the daemon's, or a relay's that adopts the lists quick-mirror installs)
/// hands over each generation (`install`): its number and the new versions, held open,
/// with their digests and segments; the announcement goes out at once. Deltas and gzip
/// forms are made afterwards on the catalog's queue, from the versions' open files; a
/// `/changes` request that comes first waits for its delta.
public final class ListCatalog: Sendable {
    /// What `/changes` answers.
    public enum Changes: Sendable {
        case unchanged
        case delta([UInt8])
        /// The client's version is unknown here (too old, from before a restart, or the
        /// list is not in an order deltas can describe): it must fetch the whole list.
        case gone
    }

    /// One event of the change stream, as a subscriber receives it.
    public struct StreamEvent: Sendable {
        /// What the client sends back as `Last-Event-ID`.
        public var id: String
        /// `lists`, or `reset` when the generations the client missed are gone.
        public var name: String
        public var announcement: Announcement

        public var frame: String { ServerSentEvents.frame(announcement, id: id, event: name) }
    }

    struct State {
        var current: [String: ListVersion] = [:]
        var journal: [String: [FileListDelta]] = [:]
        /// Encoded deltas to the current version, by list and starting digest: every
        /// follower of a stream asks for the same one at the same moment.
        var combined: [String: [String: [UInt8]]] = [:]
        /// The newest gzip form made of each list: the next one reuses its segments.
        var lastCompressed: [String: CompressedList] = [:]
        var announcement: Announcement?
        /// The latest announcements, oldest first, for clients that reconnect.
        var recent: [Announcement] = []
        var subscribers: [Int: AsyncStream<StreamEvent>.Continuation] = [:]
        /// Subscribers that came with an id before this run announced anything (an id from
        /// before a restart, sent while the first scan runs): their first event is a reset.
        var owedResets: Set<Int> = []
        var nextSubscriber = 0
        var closed = false
        /// The origin generations heard of and installed, for `/status`.
        var origins = OriginGenerations(capacity: ListCatalog.recentLength)
        /// Counts every change `/status` shows but its lag (versions, entries, announcements,
        /// origin generations heard of): the rendered answer is good while it is the same.
        var statusChanges = 0
        /// `/status` as last rendered, but for the figures each request makes anew.
        var renderedStatus: (changes: Int, body: [UInt8])?
    }

    /// Deltas kept per list; older clients get 410. Deltas that add up to more than half
    /// the list are not worth sending: the oldest go first.
    static let journalLength = 64
    /// Announcements a reconnecting client can catch up on; older ones get `reset`.
    static let recentLength = 256

    /// The URL paths (below `/`) of the lists this server serves, in the order given.
    public let lists: [String]
    public let host: String
    /// Names this server's run in event ids: an id from before a restart (whose
    /// generations started again at 1) is never mistaken for one of this run.
    public let run: String
    /// The origin's publisher, whose health `/healthz` reports; nil at a relay.
    public let publisher: PublishHealth?
    let logger: Logger
    let state = Mutex(State())
    /// The upstream a relay follows, and whether its change stream is up now.
    let upstream = Mutex<(url: String, connected: @Sendable () -> Bool)?>(nil)
    /// Counts changes of the served versions: a connection that remembers the answer to
    /// its last poll reuses it while this stays the same (one atomic load, no lock).
    let versionsEpoch = Atomic<Int>(0)
    private let queue = DispatchQueue(label: "quickmirror.list-catalog")
    /// Set while deltas to a just-installed generation are made; `/changes` waits for it.
    private let pendingDeltas = Mutex<DispatchGroup?>(nil)

    public init(lists: [String], host: String, logger: Logger, publisher: PublishHealth? = nil) {
        self.lists = lists
        self.host = host
        self.run = String(UInt64.random(in: 1...UInt64.max), radix: 36)
        self.logger = logger
        self.publisher = publisher
    }

    public var announcement: Announcement? { state.withLock { $0.announcement } }

    public func version(of path: String) -> ListVersion? { state.withLock { $0.current[path] } }

    public var subscriberCount: Int { state.withLock { $0.subscribers.count } }

    // MARK: New generations

    /// Serves and announces a generation a publisher made; `upstream` is the chain of hops
    /// that brought it (a relay's). Nothing of the lists is read here; deltas the
    /// publisher did not give, and the gzip forms, follow on the queue. Returns the
    /// announcement, if one went out.
    @discardableResult
    public func install(_ publication: Publication, upstream: [Hop] = []) -> Announcement? {
        var given: [String: FileListDelta] = [:]
        let installed = InternetTime.format(Date().timeIntervalSince1970)
        let versions = publication.files.map { file in
            if let delta = file.delta { given[file.path] = delta }
            return ListVersion(
                path: file.path, list: file.list, generation: publication.generation, installed: installed)
        }
        let (replaced, removed) = state.withLock { state in
            // A list that stops being served is news too; one that was never served is not.
            var removed = false
            for path in publication.removed where state.current.removeValue(forKey: path) != nil {
                state.journal[path] = nil
                state.combined[path] = nil
                state.lastCompressed[path] = nil
                removed = true
            }
            let replaced = versions.compactMap { version -> (ListVersion?, ListVersion)? in
                let previous = state.current[version.path]
                state.current[version.path] = version
                return previous?.digest == version.digest ? nil : (previous, version)
            }
            state.statusChanges += 1
            return (replaced, removed)
        }
        versionsEpoch.add(1, ordering: .releasing)
        // Before the announcement: a client that reacts to it at once waits for its delta.
        let pending = replaced.isEmpty ? nil : beginDeltas()
        let announcement = announce(
            generation: publication.generation, upstream: upstream, changed: !replaced.isEmpty || removed)
        if let pending { makeDeltas(replaced, given: given, pending) }
        compress(replaced.map(\.1))
        return announcement
    }

    /// Announces `generation` when its lists changed or nothing was announced yet.
    @discardableResult
    private func announce(generation: Int, upstream: [Hop], changed: Bool) -> Announcement? {
        let host = self.host
        let relay = publisher == nil
        let announcement: Announcement? = state.withLock { state in
            guard changed || state.announcement == nil else { return nil }
            let lists = state.current.mapValues(\.etag)
            var upstream = upstream
            // quick-mirror said nothing of where the lists came from (a run from a timer, a
            // rescan): the upstream announced them, if it announced these very ETags.
            if relay, upstream.isEmpty, let heard = state.origins.newest(carrying: Set(lists.values)) {
                upstream = heard.hops
            }
            let announcement = Announcement(
                generation: generation, lists: lists, hops: upstream + [Hop(host: host, generation: generation)])
            if relay, upstream.isEmpty, let origin = state.origins.origin, origin != host {
                // Lists the upstream never announced (or not yet): this relay is not their origin.
                state.origins.heldUnknown()
            } else {
                state.origins.installed(announcement)
            }
            state.announcement = announcement
            state.statusChanges += 1
            state.recent.append(announcement)
            if state.recent.count > Self.recentLength {
                state.recent.removeFirst(state.recent.count - Self.recentLength)
            }
            let event = StreamEvent(
                id: eventID(generation), name: ServerSentEvents.eventName, announcement: announcement)
            for (subscriber, continuation) in state.subscribers {
                var sent = event
                if state.owedResets.remove(subscriber) != nil { sent.name = ServerSentEvents.resetEventName }
                continuation.yield(sent)
            }
            return announcement
        }
        if let announcement {
            logger.info(
                "lists announced",
                metadata: [
                    "generation": "\(announcement.generation)", "route": "\(announcement.route)",
                    "subscribers": "\(subscriberCount)",
                ])
        }
        return announcement
    }

    // MARK: Compressed lists

    /// Makes the gzip form of each new version on the queue, after its deltas, reusing the
    /// compressed segments of the list's last form. A version already replaced is skipped,
    /// or given up midway.
    private func compress(_ versions: [ListVersion]) {
        guard !versions.isEmpty else { return }
        queue.async {
            for version in versions where self.version(of: version.path) === version {
                let start = ContinuousClock.now
                let last = self.state.withLock { $0.lastCompressed[version.path] }
                do {
                    guard
                        let compressed = try CompressedList.make(
                            from: version, reusing: last, while: { self.version(of: version.path) === version })
                    else {
                        self.logger.debug(
                            "list compression given up: a newer version replaced it",
                            metadata: ["list": "\(version.path)"])
                        continue
                    }
                    version.attach(compressed)
                    self.state.withLock {
                        $0.lastCompressed[version.path] = compressed
                        $0.statusChanges += 1
                    }
                    self.versionsEpoch.add(1, ordering: .releasing)
                    self.logger.debug(
                        "list compressed",
                        metadata: [
                            "list": "\(version.path)", "bytes": "\(version.size)", "gzip": "\(compressed.size)",
                            "segments": "\(compressed.compressedSegments) of \(version.list.segments.count)",
                            "took": "\(ContinuousClock.now - start)",
                        ])
                } catch {
                    self.logger.warning(
                        "list not compressed: clients get it plain",
                        metadata: ["list": "\(version.path)", "error": "\(error)"])
                }
            }
            // Compressing a list frees buffers as large as its segments; at 300k entries
            // glibc kept 9 MB of them resident (a third of the index) until trimmed.
            Linux.releaseFreeMemory()
        }
    }

    // MARK: Deltas

    private func beginDeltas() -> DispatchGroup {
        let group = DispatchGroup()
        group.enter()
        pendingDeltas.withLock { $0 = group }
        return group
    }

    private static let deltasFromIndex = Counter(
        label: MetricNames.deltasMade, dimensions: [(MetricNames.Label.source, MetricNames.DeltaSource.index)])
    private static let deltasFromComparison = Counter(
        label: MetricNames.deltasMade, dimensions: [(MetricNames.Label.source, MetricNames.DeltaSource.comparison)])

    /// Makes the deltas to just-installed versions on the queue; `/changes` waits for them.
    /// A delta the publisher made from its index is taken as it is when it leads from the
    /// version served before to this one; other lists are compared (one merge walk).
    private func makeDeltas(
        _ replaced: [(ListVersion?, ListVersion)], given: [String: FileListDelta] = [:], _ group: DispatchGroup
    ) {
        queue.async {
            defer {
                self.pendingDeltas.withLock { if $0 === group { $0 = nil } }
                group.leave()
            }
            // Deltas given come first: a client waiting on one does not wait for a comparison.
            let ordered = replaced.sorted { given[$0.1.path] != nil && given[$1.1.path] == nil }
            for (previous, version) in ordered {
                guard let previous else {
                    self.record(nil, for: version)
                    continue
                }
                if let delta = given[version.path], delta.base == previous.digest, delta.result == version.digest {
                    Self.deltasFromIndex.increment()
                    self.record(delta, for: version)
                    continue
                }
                // Only a time list has deltas: a path list (`fullfilelist`, an image list)
                // is told from its first bytes, not by reading both versions whole (twice
                // 292 MB at Fedora's size, for a delta that cannot be).
                guard Self.isTimeList(previous), Self.isTimeList(version) else {
                    self.record(nil, for: version)
                    continue
                }
                do {
                    let delta = self.delta(from: previous, to: version, newBytes: try version.bytes())
                    if delta != nil { Self.deltasFromComparison.increment() }
                    self.record(delta, for: version)
                } catch {
                    self.logger.warning(
                        "no delta for this list", metadata: ["list": "\(version.path)", "error": "\(error)"])
                    self.record(nil, for: version)
                }
            }
        }
    }

    private static let timeListHead = Array("[Version]\n".utf8)

    /// Whether a version starts as a time list does; a list that cannot be read says no.
    static func isTimeList(_ version: ListVersion) -> Bool {
        guard version.size >= timeListHead.count else { return false }
        return (try? version.list.bytes(at: 0, count: timeListHead.count)) == timeListHead
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

    /// Appends the delta that leads to `version` to its list's journal (nil: the journal
    /// starts again, older clients fetch the list).
    private func record(_ delta: FileListDelta?, for version: ListVersion) {
        state.withLock { state in
            var journal = state.journal[version.path] ?? []
            if let delta, journal.last.map({ $0.result == delta.base }) ?? true {
                journal.append(delta)
            } else {
                journal = delta.map { [$0] } ?? []
            }
            while journal.count > Self.journalLength
                || journal.reduce(0, { $0 + $1.encodedByteCount }) > version.size / 2
            {
                journal.removeFirst()
            }
            state.journal[version.path] = journal
            state.combined[version.path] = nil
        }
    }

    /// The edits from the version whose digest is `since` to the current one, and the
    /// version they lead to (one snapshot: its ETag goes with the delta).
    public func changes(of path: String, since digest: String) async -> (Changes, ListVersion)? {
        if let pending = pendingDeltas.withLock({ $0 }) {
            await withCheckedContinuation { continuation in
                pending.notify(queue: .global()) { continuation.resume() }
            }
        }
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

    // MARK: Subscribers

    func eventID(_ generation: Int) -> String { "\(run)-\(generation)" }

    /// What a client that last saw `lastEventID` has missed: nothing when it is current,
    /// the later announcements when this run still has them all, else one `reset`. A
    /// client without an id gets the current announcement. Before the first announcement
    /// there is nothing to send; a client with an id gets that one as its `reset`.
    func catchUp(after lastEventID: String?, in state: State) -> [StreamEvent] {
        guard let current = state.announcement else { return [] }
        let latest = StreamEvent(
            id: eventID(current.generation), name: ServerSentEvents.eventName, announcement: current)
        guard let lastEventID else { return [latest] }
        let parts = lastEventID.split(separator: "-", maxSplits: 1)
        guard parts.count == 2, parts[0] == run, let seen = Int(parts[1]), seen <= current.generation,
            let oldest = state.recent.first?.generation, seen >= oldest - 1
        else {
            return [StreamEvent(id: latest.id, name: ServerSentEvents.resetEventName, announcement: current)]
        }
        return state.recent.filter { $0.generation > seen }.map {
            StreamEvent(id: eventID($0.generation), name: ServerSentEvents.eventName, announcement: $0)
        }
    }

    /// The events a client missed since `lastEventID` (see `catchUp`), then every new one.
    /// The stream ends when the catalog is closed.
    public func subscribe(after lastEventID: String? = nil) -> AsyncStream<StreamEvent> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: StreamEvent.self, bufferingPolicy: .bufferingNewest(Self.recentLength))
        let id: Int? = state.withLock { state in
            for event in catchUp(after: lastEventID, in: state) { continuation.yield(event) }
            guard !state.closed else { return nil }
            let id = state.nextSubscriber
            state.nextSubscriber += 1
            state.subscribers[id] = continuation
            // No id can be of this run yet: the client's generations are another run's.
            if lastEventID != nil && state.announcement == nil { state.owedResets.insert(id) }
            return id
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            self?.state.withLock { state in
                state.subscribers[id] = nil
                state.owedResets.remove(id)
            }
        }
        return stream
    }

    /// Ends every change stream (the server is stopping); later subscribers get the
    /// catch-up events and an end.
    public func close() {
        let subscribers = state.withLock { state in
            state.closed = true
            defer { state.subscribers = [:] }
            return Array(state.subscribers.values)
        }
        for continuation in subscribers { continuation.finish() }
    }
}
