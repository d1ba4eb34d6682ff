import FileList
import ListTransport
import Logging
import Synchronization

/// The upstream's lists, kept current in memory, for a cache that must know whether a
/// copy it holds is the one the upstream lists (`listed`), and which copies a new
/// version of the lists made stale (`generations`).
///
/// Files only: `listed` answers for `f` lines. A symlink's line gives the link's own
/// time and the length of its target's name, not the content a web server sends for
/// its URL (the target's), so it cannot verify a cached copy and `listed` returns nil
/// for it (the cache treats the path as unlisted). Its line still counts in a
/// generation: a link that appears, is re-pointed (its time changes) or disappears
/// changes what its URL serves, so its path is reported changed or removed. A change
/// of the target alone changes only the target's line; a path below a symlinked
/// directory is in no list at all.
public final class UpstreamListing: ListedFiles, Sendable {
    public let generations: AsyncStream<ListGeneration>
    private let sink: AsyncStream<ListGeneration>.Continuation
    private let locations: [ListLocation]
    private let fetch: ListFetch
    private let pollInterval: Duration
    private let logger: Logger
    /// The versions `listed` reads, by index in `locations`; replaced whole, never changed.
    private let current: Mutex<[ListedLines?]>
    /// The order lookups try the lists in: deepest directory first, so a list of a
    /// subtree speaks for its paths before one that covers the whole upstream.
    private let lookupOrder: [Int]

    /// `listServer`: where the lists are fetched (`--list-server`, else the first
    /// `--upstream`), without a trailing slash. `lists`: their paths below the upstream's
    /// root (`--list`). `pollInterval`: how often a server that announces nothing is
    /// asked (a filelistd's change stream makes it at once; the poll stays as a check).
    public init(
        listServer: String, lists: [String], pollInterval: Duration = .seconds(60),
        requestTimeout: Duration = .seconds(120), logger: Logger
    ) throws(UpstreamListingError) {
        guard !lists.isEmpty else { throw UpstreamListingError("no --list given: nothing to read") }
        var locations: [ListLocation] = []
        for list in lists { locations.append(try ListLocation(list)) }
        self.locations = locations
        lookupOrder = locations.indices.sorted { locations[$0].directory.count > locations[$1].directory.count }
        var base = listServer
        while base.hasSuffix("/") { base.removeLast() }
        fetch = ListFetch(base: base, timeout: requestTimeout, logger: logger)
        self.pollInterval = pollInterval
        self.logger = logger
        current = Mutex(Array(repeating: nil, count: locations.count))
        (generations, sink) = AsyncStream.makeStream(of: ListGeneration.self, bufferingPolicy: .unbounded)
    }

    public func listed(_ path: String) -> ListedFile? {
        let versions = current.withLock { $0 }
        for index in lookupOrder {
            guard let lines = versions[index], let entry = locations[index].entryPath(path) else { continue }
            if let file = lines.listed(entry) { return file }
        }
        return nil
    }

    public func isCovered(_ path: String) -> Bool {
        locations.contains { $0.entryPath(path) != nil }
    }

    /// Entries and bytes held, summed over the lists (for logs and the benchmark's figures).
    public var footprint: (entries: Int, bytes: Int) {
        current.withLock { versions in
            versions.reduce(into: (0, 0)) { sum, lines in
                sum.0 += lines?.list.count ?? 0
                sum.1 += lines?.footprint ?? 0
            }
        }
    }

    /// Keeps the lists current until cancelled: every list at once, again whenever the
    /// list server's change stream announces a generation, and every `pollInterval`
    /// (or sooner, backing off from a failure, while the server is unwell). Ends
    /// `generations` when it returns.
    public func run() async throws {
        defer { sink.finish() }
        let events = UpstreamEvents(url: "\(fetch.base)/events", logger: logger)
        events.start()
        defer { events.stop() }
        var held: [ListVersionHeld?] = Array(repeating: nil, count: locations.count)
        var generation = 0
        var failures = 0
        while !Task.isCancelled {
            let announced = events.latest.count
            var failed = false
            for index in locations.indices {
                do {
                    if let changes = try await refresh(index, held: &held[index]) {
                        generation += 1
                        logger.info(
                            "list generation installed",
                            metadata: [
                                "list": "\(locations[index].path)", "generation": "\(generation)",
                                "changed": "\(changes.changed.count)", "removed": "\(changes.removed.count)",
                                "transfer": "\(changes.transfer)",
                            ])
                        sink.yield(
                            ListGeneration(
                                generation: generation, changed: changes.changed.map(locations[index].requestPath),
                                removed: changes.removed.map(locations[index].requestPath)))
                    }
                } catch {
                    if Task.isCancelled { return }
                    failed = true
                    logger.error(
                        "list not refreshed", metadata: ["list": "\(locations[index].path)", "error": "\(error)"])
                }
            }
            failures = failed ? failures + 1 : 0
            let pause = failed ? Self.backoff(pollInterval).pause(beforeRetry: failures) : pollInterval
            let deadline = ContinuousClock.now + pause
            while ContinuousClock.now < deadline && events.latest.count == announced {
                do { try await Task.sleep(for: .milliseconds(50)) } catch { return }
            }
        }
    }

    /// Fetches a newer version of one list, if there is one, and installs it unless it is
    /// malformed. Returns the changes for a generation: nil for no new version and for
    /// the first version of a list (there is nothing to compare it with; a cache checks
    /// its copies against the list as they are asked for).
    private func refresh(_ index: Int, held: inout ListVersionHeld?) async throws -> (
        changed: [[UInt8]], removed: [[UInt8]], transfer: String
    )? {
        let location = locations[index]
        guard let (version, transfer) = try await newVersion(of: location, held: held) else { return nil }
        let source = ListURL.list(base: fetch.base, path: location.path)
        let previous = current.withLock { $0[index] }
        let lines: ListedLines
        let changes: LineChanges?
        do {
            (lines, changes) = try await ListWork.run {
                let lines = try ListedLines(bytes: version.bytes, source: source)
                return (lines, previous.map { LineChanges(old: $0, new: lines) })
            }
        } catch let error as FileListError {
            // The previous version stays; its validators too, so the next poll asks again.
            logger.error(
                "malformed list refused; keeping the previous version",
                metadata: ["list": "\(location.path)", "line": "\(error.line)", "error": "\(error)"])
            return nil
        }
        current.withLock { $0[index] = lines }
        held = version
        guard let changes else {
            logger.info(
                "list loaded",
                metadata: ["list": "\(location.path)", "entries": "\(lines.list.count)", "transfer": "\(transfer)"])
            return nil
        }
        return (changes.changed, changes.removed, transfer)
    }

    /// Asking the list server for a version newer than `held`; nil when there is none.
    private func newVersion(of location: ListLocation, held: ListVersionHeld?) async throws(ListTransportError) -> (
        ListVersionHeld, transfer: String
    )? {
        let answer = try await fetch.fetch(
            location.path,
            held: held.map { held in
                let bytes = held.bytes
                return ListFetch.Held(etag: held.etag, lastModified: held.lastModified) { bytes }
            })
        guard case .fetched(let list) = answer else { return nil }
        if let refused = list.refusedDelta {
            logger.warning(
                "delta not usable; fetched the whole list",
                metadata: ["list": "\(location.path)", "error": "\(refused)"])
        }
        let content = list.content
        let bytes = await ListWork.run { content.bytes }
        // A server without validators sends the same bytes again: not a new version.
        if let held, held.bytes == bytes { return nil }
        let transfer =
            switch list.transfer {
            case .delta(let edits): "delta of \(edits) edits"
            case .whole(let compressed?): "whole list, \(compressed) bytes gzip"
            case .whole(nil): "whole list"
            }
        return (ListVersionHeld(bytes: bytes, etag: list.etag, lastModified: list.lastModified), transfer)
    }

    /// While lists cannot be fetched: 2, 4, 8... seconds, up to a minute, never longer than a poll.
    static func backoff(_ pollInterval: Duration) -> Backoff {
        Backoff(first: .seconds(2), limit: min(pollInterval, .seconds(64)))
    }
}
