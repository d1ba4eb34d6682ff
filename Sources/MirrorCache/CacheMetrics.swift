import Prometheus

/// The figures `/metrics` shows, one registry per cache (so that tests running several
/// caches in one process each count their own).
final class CacheMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let hits: Counter
    let misses: Counter
    let coalesced: Counter
    let passedThrough: Counter
    let bytesFromCache: Counter
    let bytesFromUpstream: Counter
    let evictions: Counter
    let upstreamErrors: Counter
    let staleServed: Counter
    let memoryBytes: Gauge
    let memoryObjects: Gauge

    init() {
        hits = registry.makeCounter(
            name: "mirror_cache_hits_total", help: "Requests answered from a complete cached copy.")
        misses = registry.makeCounter(
            name: "mirror_cache_misses_total", help: "Requests that started an upstream fetch.")
        coalesced = registry.makeCounter(
            name: "mirror_cache_coalesced_total", help: "Requests that joined a fetch already in progress.")
        passedThrough = registry.makeCounter(
            name: "mirror_cache_passed_through_total", help: "Requests streamed from upstream without storing.")
        bytesFromCache = registry.makeCounter(
            name: "mirror_cache_bytes_from_cache_total", help: "Body bytes sent to clients from the cache directory.")
        bytesFromUpstream = registry.makeCounter(
            name: "mirror_cache_bytes_from_upstream_total", help: "Body bytes received from upstreams.")
        evictions = registry.makeCounter(name: "mirror_cache_evictions_total", help: "Objects evicted to make room.")
        upstreamErrors = registry.makeCounter(
            name: "mirror_cache_upstream_errors_total", help: "Upstream attempts that failed (error, stall, cut).")
        staleServed = registry.makeCounter(
            name: "mirror_cache_stale_served_total", help: "Cached copies served because no upstream answered.")
        memoryBytes = registry.makeGauge(
            name: "mirror_cache_memory_bytes", help: "Bytes of small files kept in memory for hits (--memory-cache).")
        memoryObjects = registry.makeGauge(
            name: "mirror_cache_memory_objects", help: "Small files kept in memory for hits.")
    }

    var text: [UInt8] { registry.emitToBuffer() }

    static let contentType = "text/plain; version=0.0.4; charset=utf-8"
}
