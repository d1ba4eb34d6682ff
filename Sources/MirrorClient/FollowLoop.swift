import Foundation
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

    public func run() {
        // A parent may have started us with these blocked; a follower must hear them.
        var set = sigset_t()
        sigemptyset(&set)
        for signal in [SIGTERM, SIGINT] {
            Glibc.signal(signal) { _ in FollowLoop.stopRequested.store(true, ordering: .relaxed) }
            sigaddset(&set, signal)
        }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
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
            let pause = interval * Double(min(1 << min(failures, 6), 64))
            let deadline = Date().addingTimeInterval(pause)
            while Date() < deadline && !Self.stopRequested.load(ordering: .relaxed) {
                // A generation announced during the sync, or since: sync again now.
                if let events, events.latest.count != before?.count ?? 0 { break }
                usleep(50_000)
            }
        }
    }
}
