import AsyncHTTPClient
import ConnectionGuard
import Foundation
import ListTransport
import Logging
import NIOCore
import NIOExtras
import NIOHTTP1
import NIOPosix
import Synchronization
import UpstreamListing

#if canImport(Glibc)
    import Glibc
#endif

/// The fetch-through cache: its HTTP listener, its store, the fetches in progress, and
/// the two calls the list reader drives (`invalidate`, `prefetch`).
public final class MirrorCache: Sendable {
    public let configuration: CacheConfiguration
    let listed: (any ListedFiles)?
    let store: CacheStore
    let metrics = CacheMetrics()
    let logger: Logger
    let requestLog: RequestLogWriter
    let group: MultiThreadedEventLoopGroup
    let upstream: Upstream
    let executor: LoopTaskExecutor
    private let fetches = Mutex<[String: Fetch]>([:])
    private let server = Mutex<(any Channel)?>(nil)
    /// Tracks every client connection, so that a stop can let each finish its response.
    /// Let go before the event loops stop: its deinit completes a promise on one of them.
    private let quiescing: Mutex<ServerQuiescingHelper?>
    /// Fulfilled once every connection is closed after a stop (or the drain gave up).
    private let quiesced = Mutex<EventLoopPromise<Void>?>(nil)
    private let stopping = Mutex<Task<Void, Never>?>(nil)
    /// Every client connection open now. A stop closes those left while the event loops
    /// still run: closed by the loops' own shutdown instead, each one's close asks the
    /// listener's loop, already stopped, to forget it (NIO refuses that, and will crash on
    /// it in a later version).
    private let connections = Mutex<[ObjectIdentifier: any Channel]>([:])
    private let prefetcher: Prefetcher
    private let prefetchPattern: PrefetchPattern?

    /// `listed`: the upstream's lists, when the cache reads them; nil caches by HTTP
    /// validators and names only (volatile metadata revalidated, the rest kept).
    public init(configuration: CacheConfiguration, listed: (any ListedFiles)?, logger: Logger) throws {
        guard !configuration.upstreams.isEmpty else { throw ConfigurationError("at least one --upstream is needed") }
        for url in configuration.upstreams
        where !url.lowercased().hasPrefix("http://") && !url.lowercased().hasPrefix("https://") {
            throw ConfigurationError("--upstream '\(url)' is not an http:// or https:// URL")
        }
        self.configuration = configuration
        self.listed = listed
        self.logger = logger
        requestLog = RequestLogWriter(
            style: logger.logLevel <= .info ? configuration.requestLog : .off, label: logger.label)
        prefetchPattern = try configuration.prefetchPattern.map { try PrefetchPattern($0) }
        store = try CacheStore(
            directory: configuration.cacheDirectory, maxSize: configuration.maxSize, minFree: configuration.minFree,
            memory: Int(clamping: configuration.memoryCache))
        group = MultiThreadedEventLoopGroup(
            numberOfThreads: configuration.threads > 0 ? configuration.threads : NIOCore.System.coreCount)
        upstream = Upstream(
            client: ListHTTPClient.make(on: group), stallTimeout: configuration.stallTimeout, metrics: metrics, logger: logger)
        executor = LoopTaskExecutor(group: group)
        quiescing = Mutex(ServerQuiescingHelper(group: group))
        prefetcher = Prefetcher(limit: configuration.prefetchConcurrency, executor: executor)
    }

    public struct ConfigurationError: Error, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    /// Binds the listener; returns the port (the one picked when the configuration says 0).
    @discardableResult
    public func start() async throws -> Int {
        guard let quiescing = quiescing.withLock({ $0 }) else { throw ConfigurationError("the cache was shut down") }
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                }
            }
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { [self] channel in
                let id = ObjectIdentifier(channel)
                connections.withLock { $0[id] = channel }
                channel.closeFuture.whenComplete { [self] _ in _ = connections.withLock { $0.removeValue(forKey: id) } }
                return channel.eventLoop.makeCompletedFuture {
                    // Ahead of the decoder: the head's size and time, the connection cap.
                    try channel.pipeline.syncOperations.addHandler(ConnectionGuard(gate: configuration.gate))
                    // Response fields are made here, of constants, numbers and dates; the few
                    // a pass-through copies from an upstream are checked where they are copied
                    // (`ResponseFields.isCopyable`). NIO's check of every field cost 6% of a hit.
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withErrorHandling: true, withOutboundHeaderValidation: false)
                    try channel.pipeline.syncOperations.addHandler(ResponseTracker())
                    try channel.pipeline.syncOperations.addHandler(CacheRequestHandler(cache: self))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        } catch {
            let address = ListenAddress(host: configuration.host, port: configuration.port)
            throw ConfigurationError("cannot listen on \(address): \(error)")
        }
        server.withLock { $0 = channel }
        return channel.localAddress?.port ?? configuration.port
    }

    /// Serves until the listener closes (`shutdown`, or the task is cancelled).
    public func run() async throws {
        let channel = server.withLock { $0 }
        guard let channel else { return }
        try await withTaskCancellationHandler {
            try await channel.closeFuture.get()
        } onCancel: {
            channel.close(promise: nil)
        }
    }

    /// A graceful stop: listens no more, lets every connection finish the response it is
    /// sending (the transfers in flight) and closes it, then waits for the fetches still
    /// storing their copy; all within `timeout`, after which `shutdown` cuts what is left.
    public func drain(within timeout: Duration) async {
        let deadline = ContinuousClock.now + timeout
        let quiesced = stopAccepting()
        let timer = quiesced.futureResult.eventLoop.scheduleTask(in: .nanoseconds(Int64(timeout / .nanoseconds(1)))) {
            quiesced.succeed(())
        }
        try? await quiesced.futureResult.get()
        timer.cancel()
        while fetchesInProgress > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Closes the listener and asks each connection to close once its response is sent
    /// (and at once when idle); the promise is fulfilled when all are closed. Any number
    /// of calls: all get the first call's promise.
    @discardableResult
    public func stopAccepting() -> EventLoopPromise<Void> {
        let (promise, first) = quiesced.withLock { quiesced in
            if let quiesced { return (quiesced, false) }
            let promise = group.next().makePromise(of: Void.self)
            quiesced = promise
            return (promise, true)
        }
        if first {
            if let quiescing = quiescing.withLock({ $0 }) {
                quiescing.initiateShutdown(promise: promise)
            } else {
                promise.succeed(())
            }
        }
        return promise
    }

    /// Stops listening, then the upstream client, then the event loops. Any number of
    /// callers (a signal handler and the serving task) may ask at once: the first does it,
    /// all return when it is done. Shutting the client or the loops down twice waited
    /// forever (SIGTERM then left the process running).
    public func shutdown() async {
        let stopping = stopping.withLock { stopping in
            if let stopping { return stopping }
            let task = Task { [self] in
                if let channel = server.withLock({ $0 }) { try? await channel.close() }
                // Until each is closed, callbacks included: one already closing by itself
                // (the client went away) answers close() at once with an error.
                let open = connections.withLock { Array($0.values) }
                for connection in open { connection.close(promise: nil) }
                for connection in open { try? await connection.closeFuture.get() }
                quiesced.withLock { $0 }?.succeed(())
                quiescing.withLock { $0 = nil }
                try? await upstream.client.shutdown()
                executor.close()
                try? await group.shutdownGracefully()
                requestLog.flush()
            }
            stopping = task
            return task
        }
        await stopping.value
    }

    /// The Prometheus text of this cache's figures.
    public var metricsText: String {
        // Gauges of the memory are read when asked for, not kept current on every hit.
        let usage = store.hot.usage
        metrics.memoryBytes.set(Int64(usage.bytes))
        metrics.memoryObjects.set(Int64(usage.count))
        return String(decoding: metrics.text, as: UTF8.self)
            + configuration.gate.prometheusText(prefix: "mirror_cache")
    }

    // MARK: The list's side

    /// A new list generation: the cached copies of exactly the changed and removed paths
    /// go (a fetch of one of them still running finishes for its clients, unstored).
    public func invalidate(_ generation: ListGeneration) {
        var dropped = 0
        for path in generation.changed + generation.removed {
            guard let target = try? RequestTarget.parse("/" + path, upstreams: configuration.upstreams).0 else {
                continue
            }
            fetches.withLock { $0[target.key] }?.supersede()
            if store.remove(target.key) > 0 { dropped += 1 }
        }
        logger.info(
            "list generation applied",
            metadata: [
                "generation": "\(generation.generation)", "changed": "\(generation.changed.count)",
                "removed": "\(generation.removed.count)", "dropped": "\(dropped)",
            ])
    }

    /// Fetches these request paths in the background, as a miss would, at most
    /// `prefetchConcurrency` at a time; paths already cached and fresh are skipped.
    public func prefetch(_ paths: [String]) {
        for path in paths {
            prefetcher.submit { [self] in
                guard let target = try? RequestTarget.parse("/" + path, upstreams: configuration.upstreams).0 else {
                    return
                }
                if let (fd, info) = store.openComplete(target.key) {
                    let fresh = freshness(target, info)
                    try? fd.close()
                    if case .fresh = fresh { return }
                }
                guard let (fetch, _) = await join(target, conditional: nil) else { return }
                if case .body = await fetch.head() { await fetch.completion() }
            }
        }
    }

    /// What the wiring calls on each new generation: invalidate, then prefetch the changed
    /// paths that match `--prefetch`.
    public func apply(_ generation: ListGeneration) {
        invalidate(generation)
        if let prefetchPattern {
            prefetch(generation.changed.filter(prefetchPattern.matches))
        }
    }

    // MARK: Shared by the request paths

    enum Freshness {
        case fresh
        case refetch(ListedFile?)
        case revalidate(CacheStore.Validators)
    }

    /// Whether a complete cached copy may be served as it is. A listed path is compared
    /// with its list line (time, size, checksum); a path the lists cover but do not name
    /// is asked for upstream; others go by name: volatile metadata after
    /// `--volatile-ttl`, the rest until evicted.
    func freshness(_ target: RequestTarget, _ info: stat) -> Freshness {
        if let path = target.listedPath, let listed, let line = listed.listed(path) {
            guard Int64(info.st_mtim.tv_sec) == line.mtime, Int64(info.st_size) == line.size else {
                return .refetch(line)
            }
            if let sha256 = line.sha256, store.validators(target.key)?.sha256 != sha256.lowercased() {
                return .refetch(line)
            }
            return .fresh
        }
        if let path = target.listedPath, let listed, listed.isCovered(path) {
            // Below a listed directory but not in the list: new upstream and the list lags,
            // or gone and the copy is stale. Either way the upstream decides, each time.
            return .refetch(nil)
        }
        let name = target.listedPath ?? target.key
        guard VolatileNames.isVolatile(name) else { return .fresh }
        if let age = store.age(target.key), age <= configuration.volatileTTL { return .fresh }
        return .revalidate(store.validators(target.key) ?? .init())
    }

    func listedLine(_ target: RequestTarget) -> ListedFile? {
        target.listedPath.flatMap { path in listed?.listed(path) }
    }

    /// Upstream fetches running now, including those whose clients have every byte and
    /// whose copy is still being made durable.
    public var fetchesInProgress: Int { fetches.withLock { $0.count } }

    /// The fetch of this object whose body is still coming, or a new one (started here);
    /// nil when a fetch of it has just ended (waited for here): look at the store again.
    func join(_ target: RequestTarget, conditional: CacheStore.Validators?) async -> (Fetch, isNew: Bool)? {
        enum Found {
            case running(Fetch)
            case started(Fetch)
            case ending(Fetch)
        }
        let found = fetches.withLock { map -> Found in
            if let running = map[target.key] {
                // A fetch a newer list generation superseded may bring the old bytes: a
                // request made after that generation gets a fetch of its own.
                if !running.isSuperseded {
                    return running.isComing ? .running(running) : .ending(running)
                }
            }
            let fetch = Fetch(target: target, listed: listedLine(target), conditional: conditional)
            map[target.key] = fetch
            return .started(fetch)
        }
        switch found {
        case .running(let fetch):
            return (fetch, false)
        case .ending(let fetch):
            await fetch.ended()
            return nil
        case .started(let fetch):
            let transfer = FetchTransfer(
                fetch: fetch, store: store, upstream: upstream, metrics: metrics, logger: logger)
            Task(executorPreference: executor) { [self] in
                await transfer.run()
                fetches.withLock { map in
                    if map[target.key] === fetch { map[target.key] = nil }
                }
                fetch.end()
            }
            return (fetch, true)
        }
    }
}

/// `--prefetch`: a regular expression matched anywhere in the request path.
struct PrefetchPattern: Sendable {
    nonisolated(unsafe) let regex: Regex<AnyRegexOutput>

    init(_ pattern: String) throws {
        do {
            regex = try Regex(pattern)
        } catch {
            throw MirrorCache.ConfigurationError("--prefetch '\(pattern)' is not a regular expression: \(error)")
        }
    }

    func matches(_ path: String) -> Bool { (try? regex.firstMatch(in: path)) != nil }
}
