import ArgumentParser
import CommandLineSupport
import Dispatch
import Foundation
import Logging
import MirrorCache
import Synchronization
import Systemd
import UpstreamListing

@main
struct MirrorCacheCommand: ParsableCommand {
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

    func validate() throws {
        guard !upstream.isEmpty else { throw ValidationError("give at least one --upstream URL") }
        guard volatileTTL >= 0 else { throw ValidationError("--volatile-ttl must be 0 or more") }
        guard stallTimeout > 0 else { throw ValidationError("--stall-timeout must be more than 0") }
        _ = try Self.hostAndPort(listen)
    }

    static func hostAndPort(_ text: String) throws -> (String, Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else { throw ValidationError("--listen '\(text)' is not HOST:PORT (e.g. 127.0.0.1:3142)") }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "::" : host, port)
    }

    func run() throws {
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
        try Self.serve(cache, listing: listing, logger: logger)
    }

    /// Binds, tells systemd it is ready, and serves until SIGTERM or SIGINT.
    static func serve(_ cache: MirrorCache, listing: UpstreamListing?, logger: Logger) throws {
        let failure = LockedError()
        let done = DispatchSemaphore(value: 0)
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        // A log reader that went away (a closed pipe on standard error) is an EPIPE the
        // request log handles by dropping lines, not a signal that ends the cache. NIO
        // ignores SIGPIPE once it opens its first socket; this holds from the first line.
        signal(SIGPIPE, SIG_IGN)
        let signals = [SIGTERM, SIGINT].map { DispatchSource.makeSignalSource(signal: $0) }
        for source in signals {
            source.setEventHandler { Task { await cache.shutdown() } }
            source.resume()
        }
        Task {
            do {
                let port = try await cache.start()
                logger.info("serving", metadata: ["port": "\(port)", "cache": "\(cache.configuration.cacheDirectory)"])
                Systemd.notify("READY=1\nSTATUS=Serving on port \(port)")
                // Each new generation of the lists drops exactly the copies whose line
                // changed or went, then prefetches what --prefetch names.
                let following = listing.map { listing in
                    Task {
                        await withTaskGroup(of: Void.self) { group in
                            group.addTask {
                                do {
                                    try await listing.run()
                                } catch {
                                    logger.error("the lists are no longer followed", metadata: ["error": "\(error)"])
                                }
                            }
                            group.addTask { for await generation in listing.generations { cache.apply(generation) } }
                        }
                    }
                }
                defer { following?.cancel() }
                try await cache.run()
            } catch {
                failure.set(error)
            }
            await cache.shutdown()
            done.signal()
        }
        // The signal sources must outlive the wait: an optimized build releases a value
        // after its last use, and a released source never fires (SIGTERM was ignored).
        withExtendedLifetime(signals) { done.wait() }
        if let error = failure.get() { throw CommandFailure("\(error)") }
    }

    static func main() { mainWithOneLineErrors() }
}

/// The serving task's error, for the thread waiting on it.
final class LockedError: Sendable {
    private let error = Mutex<(any Error)?>(nil)
    func set(_ error: any Error) { self.error.withLock { $0 = error } }
    func get() -> (any Error)? { error.withLock { $0 } }
}
