import ConnectionGuard
import Metrics
import Monitoring
import Prometheus

/// The Prometheus side of the figures: the registry every swift-metrics metric of the
/// process lands in once `bootstrap` ran, and its text for `GET /metrics`. The code that
/// records (the daemon, the request counting) knows only swift-metrics.
public enum MetricsExport {
    static let registry = PrometheusCollectorRegistry()
    /// Read from the catalog at each scrape rather than kept up to date on every connect.
    static let subscribers = registry.makeGauge(
        descriptor: MetricNameDescriptor(
            metricName: MetricNames.subscribers, unitName: "", helpText: "Open /events streams."))
    static let originGeneration = registry.makeGauge(
        descriptor: MetricNameDescriptor(
            metricName: MetricNames.originGeneration, unitName: "",
            helpText: "The origin generation this server holds."))
    static let upstreamLag = registry.makeGauge(
        descriptor: MetricNameDescriptor(
            metricName: MetricNames.upstreamLag, unitName: "",
            helpText: "Seconds since the origin published the oldest generation this server lacks; 0 when current."))

    /// Once per process, before the daemon and the server make their metrics (a metric
    /// is bound to the backend at its creation). Without it they cost nothing.
    public static func bootstrap() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets[MetricNames.publishDuration] = MetricNames.publishDurationBuckets
        MetricsSystem.bootstrap(factory)
    }

    /// The exposition text, with the figures read at scrape time brought up to date.
    static func render(_ catalog: ListCatalog, gate: ConnectionGate) -> [UInt8] {
        subscribers.set(Int64(catalog.subscriberCount))
        let origin = catalog.originFigures
        if let generation = origin.generation { originGeneration.set(Int64(generation)) }
        upstreamLag.set(origin.lag)
        // The connection figures are counted by the guard of every connection, outside
        // swift-metrics (mirror-cache, which has no metrics backend, shows the same).
        return registry.emitToBuffer()
            + Array(gate.prometheusText(prefix: "filelistd_http", subscriberPrefix: MetricNames.subscribers).utf8)
    }

    /// Prometheus' text exposition format.
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"
}
