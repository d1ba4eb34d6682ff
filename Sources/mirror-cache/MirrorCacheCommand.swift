import ArgumentParser
import CommandLineSupport
import ConnectionGuard
import Foundation
import LinuxCalls
import Logging
import MirrorCache
import ServiceLifecycle
import Systemd
import UpstreamListing

@main
struct MirrorCacheCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mirror-cache",
        abstract: "A fetch-through HTTP cache for a LAN, exact because it reads the upstream's list.",
        discussion: """
            Reverse mode: GET /PATH is UPSTREAM/PATH, served from --cache or fetched once (concurrent \
            requests stream from the one fetch as it grows). Forward-proxy mode: absolute-form requests \
            (a client with http_proxy set) are cached per host and path; CONNECT is refused. Each file \
            gets its final name only when complete and verified (Content-Length; the list's size and \
            checksum when listed). Volatile repository metadata no list covers is revalidated after \
            --volatile-ttl. /metrics (on this listener) gives Prometheus figures; it shadows an \
            upstream path /metrics.
            """)

    @Option(help: "An upstream base URL (http://host/pub/fedora); repeat for fail-over, in order of preference.")
    var upstream: [String] = []

    @Option(help: "The cache directory (created if missing).")
    var cache: String

    @Option(help: ArgumentHelp("Listen on this address (127.0.0.1:3142, [::]:3142).", valueName: "host:port"))
    var listen: String

    @Option(help: "An upstream list (fullfiletimelist path below the upstream) to keep the cache exact; repeatable.")
    var list: [String] = []

    @Option(help: "A filelistd URL whose /changes and /events say when the lists change.")
    var listServer: String?

    @Option(help: "Clients allowed (CIDR, repeatable); default loopback only (127.0.0.0/8, ::1).")
    var allow: [String] = []

    @Option(help: "Evict least recently used files beyond this size (500M, 20G).")
    var maxSize: String?

    @Option(help: "Evict least recently used files to keep this much free on the cache's file system.")
    var minFree: String?

    @Option(help: "Fetch changed paths matching this regular expression as soon as a new list names them.")
    var prefetch: String?

    @Option(help: "Seconds a volatile name (repomd.xml, Release, ...) no list covers is served before revalidation.")
    var volatileTTL: Int64 = 300

    @Option(help: "Seconds without a byte from an upstream before failing over (or resuming).")
    var stallTimeout: Int = 15

    @Option(help: "Memory for small cached files (64 KiB or less), served from it on a hit (256M, 1G; 0 turns it off).")
    var memoryCache = "256M"

    @Option(
        help: ArgumentHelp(
            "Seconds a client has to send a request's whole head (from its first byte, or from connecting); then 408 and the connection is closed.",
            valueName: "seconds"))
    var headerTimeout: Double = 60

    @Option(
        help: ArgumentHelp(
            "Seconds a kept-alive connection may sit with nothing asked before it is closed.", valueName: "seconds"))
    var idleTimeout: Double = 75

    @Option(
        help: ArgumentHelp(
            "Seconds a response may go without a byte leaving (a client that stopped reading) before it is abandoned.",
            valueName: "seconds"))
    var sendTimeout: Double = 60

    @Option(
        help: ArgumentHelp(
            "Client connections held at once; more are answered 503. Default: 10000, or fewer if the open-file limit (raised to its hard limit at start) leaves fewer after a reserve for cache files and upstream connections.",
            valueName: "count"))
    var maxConnections: Int?

    @Option(
        help: ArgumentHelp(
            "Seconds SIGTERM waits for the transfers in flight to finish before cutting them.", valueName: "seconds"))
    var drainTimeout: Double = 60

    func validate() throws {
        guard !upstream.isEmpty else { throw ValidationError("give at least one --upstream URL") }
        guard volatileTTL >= 0 else { throw ValidationError("--volatile-ttl must be 0 or more") }
        guard stallTimeout > 0 else { throw ValidationError("--stall-timeout must be more than 0") }
        for (name, value) in [
            ("--header-timeout", headerTimeout), ("--idle-timeout", idleTimeout), ("--send-timeout", sendTimeout),
            ("--drain-timeout", drainTimeout),
        ] where !(value > 0 && value <= 86400) {
            throw ValidationError("\(name) must be a number of seconds above 0 and at most 86400, not \(value)")
        }
        if let maxConnections, maxConnections < 1 { throw ValidationError("--max-connections must be 1 or more") }
        _ = try Self.hostAndPort(listen)
    }

    static func hostAndPort(_ text: String) throws -> (String, Int) {
        guard let address = ListenAddress(text) else {
            throw ValidationError("--listen '\(text)' is not HOST:PORT (e.g. 127.0.0.1:3142)")
        }
        return (address.host, address.port)
    }

    func run() async throws {
        // A log reader that went away (a closed pipe on standard error) is an EPIPE the
        // request log handles by dropping lines, not a signal that ends the cache. NIO
        // ignores SIGPIPE once it opens its first socket; this holds from the first line.
        Linux.ignoreSignal(SIGPIPE)
        LoggingSystem.bootstrap { label -> any LogHandler in
            Systemd.stderrIsJournal ? JournalLogHandler(label: label) : StreamLogHandler.standardError(label: label)
        }
        let logger = Logger(label: "mirror-cache")
        let (host, port) = try Self.hostAndPort(listen)
        var configuration = CacheConfiguration(upstreams: upstream, cacheDirectory: cache, host: host, port: port)
        do {
            if !allow.isEmpty { configuration.allow = try allow.map { try AddressRange($0) } }
            configuration.maxSize = try maxSize.map { try ByteCount.parse($0, option: "--max-size") }
            configuration.minFree = try minFree.map { try ByteCount.parse($0, option: "--min-free") }
            configuration.memoryCache = try ByteCount.parse(memoryCache, option: "--memory-cache")
        } catch {
            throw CommandFailure("\(error)")
        }
        configuration.prefetchPattern = prefetch
        configuration.volatileTTL = volatileTTL
        configuration.stallTimeout = .seconds(stallTimeout)
        configuration.requestLog = Systemd.stderrIsJournal ? .journalStream : .timestamped
        configuration.gate = gate(logger: logger)
        // The upstream's lists, read from --list-server (a filelistd: deltas and its change
        // stream) or else from the first upstream (conditional GETs).
        var listing: UpstreamListing?
        if !list.isEmpty {
            do {
                listing = try UpstreamListing(listServer: listServer ?? upstream[0], lists: list, logger: logger)
            } catch {
                throw CommandFailure("\(error)")
            }
        } else if listServer != nil {
            throw CommandFailure("--list-server says where the lists are read: name them with --list PATH")
        }
        let cache: MirrorCache
        do {
            cache = try MirrorCache(configuration: configuration, listed: listing, logger: logger)
        } catch {
            throw CommandFailure("\(error)")
        }
        // The group's own messages are for debugging; a failure comes back as its error.
        var groupLogger = logger
        groupLogger.logLevel = .critical
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [
                    .init(
                        service: CacheService(
                            cache: cache, listing: listing, drainTimeout: .milliseconds(Int64(drainTimeout * 1000)),
                            logger: logger))
                ],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: groupLogger))
        do {
            try await group.run()
        } catch {
            await cache.shutdown()
            throw CommandFailure("\(error)")
        }
    }

    /// The client limits. The soft open-file limit is raised to the hard one first, and
    /// the connection cap sized from it: a connection may hold three descriptors (its
    /// socket, the file it is sent or the partial file of its miss, the upstream socket),
    /// and a reserve stays for the cache's own files.
    func gate(logger: Logger) -> ConnectionGate {
        var requested = ServerLimits()
        requested.headerTimeout = .milliseconds(Int64(headerTimeout * 1000))
        requested.idleTimeout = .milliseconds(Int64(idleTimeout * 1000))
        requested.sendTimeout = .milliseconds(Int64(sendTimeout * 1000))
        if let maxConnections { requested.maxConnections = maxConnections }
        let descriptors: OpenFileLimit
        do {
            descriptors = try Linux.raiseOpenFileLimit()
        } catch {
            logger.warning("cannot raise the open-file limit", metadata: ["error": "\(error)"])
            descriptors = (try? Linux.openFileLimit()) ?? OpenFileLimit(soft: 1024, hard: 1024)
        }
        let (limits, sizing, note) = ServerLimits.sized(
            descriptors: descriptors, inUse: Linux.openDescriptorCount() ?? 16, descriptorsPerConnection: 3,
            requested: requested, connectionsGiven: maxConnections != nil)
        if let note { logger.warning("\(note)") }
        logger.info(
            "client limits",
            metadata: [
                "open_files": "\(sizing.descriptors)", "reserved": "\(sizing.reserve)",
                "max_connections": "\(limits.maxConnections)",
            ])
        return ConnectionGate(limits: limits, logger: logger)
    }

    static func main() async { await mainWithOneLineErrors() }
}

/// The cache as a service: binds, tells systemd it is ready, follows the upstream's
/// lists, and serves until the group shuts down (SIGTERM, SIGINT); then it listens no
/// more, lets the transfers in flight finish (within --drain-timeout), and stops.
struct CacheService: Service {
    let cache: MirrorCache
    let listing: UpstreamListing?
    let drainTimeout: Duration
    let logger: Logger

    func run() async throws {
        let cache = cache
        let port = try await cache.start()
        logger.info("serving", metadata: ["port": "\(port)", "cache": "\(cache.configuration.cacheDirectory)"])
        Systemd.notify("READY=1\nSTATUS=Serving on port \(port)")
        // Each new generation of the lists drops exactly the copies whose line changed
        // or went, then prefetches what --prefetch names. Not awaited at the stop: the
        // lists' reader may sit in a request to its list server.
        let following = listing.map { listing in
            Task { [cache, logger] in
                await withTaskGroup(of: Void.self) { group in
                    group.addTask {
                        do {
                            try await listing.run()
                        } catch {
                            if !Task.isCancelled {
                                logger.error("the lists are no longer followed", metadata: ["error": "\(error)"])
                            }
                        }
                    }
                    group.addTask { for await generation in listing.generations { cache.apply(generation) } }
                }
            }
        }
        defer { following?.cancel() }
        try await withGracefulShutdownHandler {
            try await cache.run()
        } onGracefulShutdown: {
            cache.stopAccepting()
        }
        // The listener is closed: a graceful stop, or a failure of the listener.
        Systemd.notify("STOPPING=1\nSTATUS=Finishing the transfers in flight")
        await cache.drain(within: drainTimeout)
        await cache.shutdown()
        logger.info("stopped")
    }
}
