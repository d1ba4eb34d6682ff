import Logging
import TreeWatch

enum EventSources {
    /// Picks the event source and logs which one and why; its events are read on a thread
    /// of their own (`EventReaderThread`).
    static func make(_ backend: EventBackend, root: String, logger: Logger) throws(DaemonError) -> EventReaderThread {
        let source = try kernelSource(backend, root: root, logger: logger)
        do {
            return try EventReaderThread(source)
        } catch {
            throw DaemonError("cannot follow changes: \(error)")
        }
    }

    private static func kernelSource(_ backend: EventBackend, root: String, logger: Logger) throws(DaemonError)
        -> any EventSource
    {
        if backend != .inotify {
            do {
                let source = try FanotifySource(root: root)
                logger.info(
                    "following changes with fanotify",
                    metadata: [
                        "why":
                            "\(backend == .fanotify ? "asked for" : "permitted: one mark for the whole file system")",
                        "inodes":
                            "\(source.reportsObjects ? "named by the kernel" : "stat'ed as events are read (Linux before 5.17)")",
                    ])
                return source
            } catch {
                if backend == .fanotify { throw DaemonError("cannot use fanotify: \(error)") }
                // EPERM without CAP_SYS_ADMIN, ENODEV without an fsid, EXDEV on a btrfs subvolume.
                logger.notice("fanotify refused; using inotify", metadata: ["why": "\(error)"])
            }
        }
        do {
            let source = try InotifySource(root: root)
            logger.info(
                "following changes with inotify",
                metadata: [
                    "why": "\(backend == .inotify ? "asked for" : "fanotify refused")",
                    "max_user_watches": "\(InotifyLimits.maxUserWatches ?? 0)",
                ])
            return source
        } catch {
            throw DaemonError("cannot follow changes: \(error)")
        }
    }
}
