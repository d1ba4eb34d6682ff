import Foundation
import Metrics
import Monitoring

#if canImport(Glibc)
    import Glibc
#endif

/// The publisher's figures, recorded through swift-metrics: with no backend bootstrapped
/// (no --http) every call below is a no-op of the default handler.
///
/// Made when the daemon is, after the executable chose the backend: a metric is bound
/// to the backend at its creation.
final class DaemonMetrics {
    private let events = Counter(label: MetricNames.events)
    private let overflows = Counter(label: MetricNames.overflows)
    private let rescans = Counter(label: MetricNames.rescans)
    private let rescanDrift = Counter(label: MetricNames.rescanDrift)
    private let lastRescanDrift = Gauge(label: MetricNames.lastRescanDrift)
    private let publishes = Counter(label: MetricNames.publishes)
    private let publishFailures = Counter(label: MetricNames.publishFailures)
    private let publishDuration = Timer(label: MetricNames.publishDuration)
    private let generation = Gauge(label: MetricNames.generation)
    private let lastPublish = Gauge(label: MetricNames.lastPublish)
    /// By the list's path as served (`fedora/fullfiletimelist-fedora`).
    private var entries: [String: Gauge] = [:]
    /// The overflow count the trackers had at the last report: theirs only grows.
    private var overflowsReported = 0

    func eventsRead(_ count: Int) { events.increment(by: count) }

    /// `total` is the trackers' own running count.
    func overflowsSeen(total: Int) {
        guard total > overflowsReported else { return }
        overflows.increment(by: total - overflowsReported)
        overflowsReported = total
    }

    func rescanned(drift: Int) {
        rescans.increment()
        rescanDrift.increment(by: drift)
        lastRescanDrift.record(drift)
    }

    func publishAttempted(took duration: Duration, failed: Bool) {
        publishDuration.recordNanoseconds(
            duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
        if failed {
            publishFailures.increment()
        } else {
            lastPublish.record(Date().timeIntervalSince1970)
        }
    }

    func published(generation number: Int) {
        publishes.increment()
        generation.record(number)
    }

    func entries(_ count: Int, list: String) {
        let gauge =
            entries[list]
            ?? {
                let made = Gauge(label: MetricNames.listEntries, dimensions: [(MetricNames.Label.list, list)])
                entries[list] = made
                return made
            }()
        gauge.record(count)
    }
}
