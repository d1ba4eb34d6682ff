import ConnectionGuard

/// Everything `mirror-cache` is told on its command line, for the library.
public struct CacheConfiguration: Sendable {
    /// Base URLs in order of preference (`http://mirror.example/pub/fedora`).
    public var upstreams: [String]
    public var cacheDirectory: String
    public var host: String
    /// 0 picks a free port (tests); `MirrorCache.start()` returns the one bound.
    public var port: Int
    public var allow: [AddressRange] = AddressRange.loopback
    public var maxSize: Int64?
    public var minFree: Int64?
    /// Changed paths matching this (Swift regular expression syntax) are fetched as soon
    /// as a new list generation names them.
    public var prefetchPattern: String?
    /// How long a volatile name (repository metadata no list covers) is served before
    /// it is revalidated upstream.
    public var volatileTTL: Int64 = 300
    /// An upstream that sends no byte for this long is given up on (fail over, resume).
    public var stallTimeout: Duration = .seconds(15)
    /// At most this many prefetches run at once.
    public var prefetchConcurrency = 4
    /// Bytes of small objects (64 KiB or less) kept in memory for hits; 0 keeps none.
    public var memoryCache: Int64 = 256 << 20
    /// Event loop threads; 0 is one per core.
    public var threads = 0
    /// The request log's lines on standard error; `.off` also when the logger's level is
    /// above info.
    public var requestLog = RequestLogStyle.timestamped
    /// The limits every client connection is held to (timeouts, head size, the
    /// connection cap), and their counts for /metrics.
    public var gate = ConnectionGate()

    public init(upstreams: [String], cacheDirectory: String, host: String, port: Int) {
        self.upstreams = upstreams.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        self.cacheDirectory = cacheDirectory
        self.host = host
        self.port = port
    }
}
