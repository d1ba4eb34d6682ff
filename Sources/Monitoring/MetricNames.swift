/// The figures `GET /metrics` shows, by their Prometheus names, and their labels: the
/// publisher records them, the HTTP side serves them, alerts and dashboards name them.
/// A name keeps one set of labels (Prometheus refuses a family whose label names differ).
public enum MetricNames {
    // The publisher (filelistd's event loop).

    /// Gauge `{list}`: entries of each time list as last published.
    public static let listEntries = "filelistd_list_entries"
    /// Counter: kernel events read.
    public static let events = "filelistd_events_total"
    /// Counter: event queue overflows (each one costs a whole-tree rescan).
    public static let overflows = "filelistd_event_overflows_total"
    /// Counter: verification scans (SIGHUP, `filelistd rescan`, --audit-interval).
    public static let rescans = "filelistd_rescans_total"
    /// Counter: entries that verification scans found added, removed or changed (the
    /// events had missed them; anything above 0 is worth a look).
    public static let rescanDrift = "filelistd_rescan_drift_entries_total"
    /// Gauge: what the last verification scan found.
    public static let lastRescanDrift = "filelistd_last_rescan_drift_entries"
    /// Counter: generations published.
    public static let publishes = "filelistd_publishes_total"
    /// Counter: attempts to write the lists that failed (the old lists stay; retried in 5 s).
    public static let publishFailures = "filelistd_publish_failures_total"
    /// Histogram: rendering and renaming a generation's lists into place.
    public static let publishDuration = "filelistd_publish_duration_seconds"
    /// Gauge: the generation last published.
    public static let generation = "filelistd_generation"
    /// Gauge: Unix time of the last successful publish.
    public static let lastPublish = "filelistd_last_publish_timestamp_seconds"

    // The HTTP side (origin and relay).

    /// Counter `{status}`: HTTP responses by status, the 304s answered on the event loop included.
    public static let httpRequests = "filelistd_http_requests_total"
    /// Counter `{kind}`: list bodies sent, `whole` (a GET of a list) or `delta` (`/changes`).
    public static let listTransfers = "filelistd_list_transfers_total"
    /// Gauge: open `/events` streams.
    public static let subscribers = "filelistd_sse_subscribers"
    /// Counter `{source}`: deltas made for new generations, `index` (from what the
    /// publisher's index recorded changing: nothing read) or `comparison` (the two lists
    /// compared: a relay's lists, the first generation after a failed publish, a change
    /// of more than 50,000 paths).
    public static let deltasMade = "filelistd_deltas_made_total"
    /// Gauge: the origin generation this server holds (at the origin, its own generation).
    public static let originGeneration = "filelistd_origin_generation"
    /// Gauge: 0 when this server holds the newest origin generation it has heard of, else
    /// seconds since the origin published the oldest one it lacks (`/status`'s lag).
    public static let upstreamLag = "filelistd_upstream_lag_seconds"

    public enum Label {
        public static let list = "list"
        public static let status = "status"
        public static let kind = "kind"
        public static let source = "source"
    }

    public enum DeltaSource {
        public static let index = "index"
        public static let comparison = "comparison"
    }

    public enum TransferKind {
        public static let whole = "whole"
        public static let delta = "delta"
    }

    /// A publish renders every changed list: milliseconds for a small tree, seconds for
    /// a million entries, more on a loaded disk.
    public static let publishDurationBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
        .seconds(30), .seconds(60),
    ]
}
