import Logging
import TreeWatch

enum EventSources {
    /// Picks the event source; the log says which and why.
    static func make(_ backend: EventBackend, root: String, logger: Logger) throws(DaemonError) -> any EventSource {
        do {
            let source = try InotifySource()
            logger.info(
                "following changes with inotify",
                metadata: [
                    "why": "\(backend == .inotify ? "asked for" : "fanotify is not available yet")",
                    "max_user_watches": "\(InotifyLimits.maxUserWatches ?? 0)",
                ])
            return source
        } catch {
            throw DaemonError("cannot follow changes: \(error)")
        }
    }
}
