import Foundation
import LinuxCalls
import ListTransport
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// `quick-mirror follow`: sync at once when the upstream filelistd announces a new
/// generation on its change stream, every `interval` seconds otherwise (the fallback
/// while the stream is down, and a check that costs one conditional GET per list when
/// it is up), and at once again after a sync that changed something or during which a
/// new generation appeared. SIGTERM or SIGINT ends it after the current run.
public struct FollowLoop {
    public let session: SyncSession
    public var interval: Double

    public init(session: SyncSession, interval: Double) {
        self.session = session
        self.interval = interval
    }

    static let stopRequested = Atomic<Bool>(false)

    /// Between syncs: the interval, and while runs fail, twice as long after each
    /// failure, up to 64 intervals (a follower must not hammer an upstream that is unwell).
    var backoff: Backoff {
        let interval = Duration.milliseconds(Int64(self.interval * 1000))
        return Backoff(first: interval, limit: interval * 64)
    }

    public func run() {
        // A parent may have started us with these blocked; a follower must hear them.
        Linux.handleSignals([SIGTERM, SIGINT]) { _ in FollowLoop.stopRequested.store(true, ordering: .relaxed) }
        let events = session.sync.configuration.httpListSource.map {
            UpstreamEvents(url: "\($0)/events", logger: session.logger)
        }
        events?.start()
        var failures = 0
        while !Self.stopRequested.load(ordering: .relaxed) {
            let before = events?.latest
            do {
                let changed = try session.syncOnce(announcement: before?.announcement, following: true)
                failures = 0
                if changed { continue }
            } catch {
                // Logged by the run; a follower keeps going, backing off while upstream is unwell.
                failures += 1
                StandardStreams.errorLine("quick-mirror: error: \(error)")
            }
            let deadline = ContinuousClock.now + backoff.pause(beforeRetry: failures + 1)
            while ContinuousClock.now < deadline && !Self.stopRequested.load(ordering: .relaxed) {
                // A generation announced during the sync, or since: sync again now.
                if let events, events.latest.count != before?.count ?? 0 { break }
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
    }
}
