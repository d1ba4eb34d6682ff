import CLinuxFS
import FileList
import Foundation
import LinuxCalls
import Logging
import Publish
import SystemPackage
import Systemd
import TreeIndex
import TreeScan
import TreeWatch

/// The `filelistd` service: scans once, follows kernel events, and republishes the list
/// within `settle` of the tree going quiet.
///
/// One thread runs the event loop, polling the event source, the signal descriptor and
/// the control socket; the parallel walk uses more threads during scans. With nothing
/// happening the loop sleeps in poll(2) with no timeout but the watchdog's.
public final class Daemon {
    let configuration: DaemonConfiguration
    let logger: Logger
    private var index = TreeIndex()
    private var tracker = ChangeTracker()
    private var generation = 0
    private var lastPublish: Date?
    private var pendingSince: ContinuousClock.Instant?
    private var lastEvent: ContinuousClock.Instant?
    private var retryAt: ContinuousClock.Instant?
    private var nextAudit: ContinuousClock.Instant?
    private var eventTimes: [ContinuousClock.Instant] = []
    private var rescans = 0
    private var lastDrift: ReconcileSummary?
    private let clock = ContinuousClock()

    public init(configuration: DaemonConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Runs until SIGTERM or SIGINT (returns) or until the tree disappears (throws).
    public func run() throws {
        let lock = try RuntimeLock(path: configuration.lockPath, root: configuration.root)
        let rootFD: FileDescriptor
        do {
            rootFD = try Linux.openat(nil, configuration.root, flags: O_RDONLY | O_DIRECTORY)
        } catch {
            throw DaemonError("cannot watch '\(configuration.root)': \(error.errno)")
        }
        defer { try? rootFD.close() }
        if let info = try? Linux.fstat(rootFD, displayPath: configuration.root) {
            rootIdentity = (UInt64(info.st_dev), UInt64(info.st_ino))
        }
        let source = try EventSources.make(configuration.events, root: configuration.root, logger: logger)
        let signals = try SignalReader()
        let control = try ControlSocket(path: configuration.controlSocketPath)
        let options = configuration.scanOptions
        let reader = DirectoryReader(options: options)
        let warn = warningLogger()

        // The source is live before the scan starts: a change made while the scan runs is
        // queued and reconciled right after it.
        Systemd.notify("STATUS=Scanning \(configuration.root)")
        let started = clock.now
        _ = try index.scan(
            root: configuration.root, options: options, warn: warn,
            directoryOpened: { [source] directory, path in try? source.directoryOpened(directory, path: path) })
        logger.info(
            "initial scan done",
            metadata: [
                "entries": "\(index.count)", "seconds": "\(Self.seconds(clock.now - started))",
                "watches": "\(source.watchCount)",
            ])
        try drain(source)
        if tracker.hasWork {
            _ = try tracker.apply(
                to: &index, root: configuration.root, rootFD: rootFD, reader: reader, options: options,
                source: source, warn: warn)
        }
        pendingSince = nil
        publish()
        // The walk's per-directory buffers were freed in the worker threads' malloc
        // arenas; without a trim they stay resident for the life of the daemon.
        qm_release_free_memory()
        Systemd.notify("READY=1\nSTATUS=\(statusLine())")
        if let interval = configuration.auditInterval { nextAudit = clock.now + interval }
        let watchdog = Systemd.watchdogInterval
        var nextWatchdog = watchdog.map { clock.now + $0 }

        while true {
            var descriptors = [
                pollfd(fd: source.fileDescriptor.rawValue, events: Int16(POLLIN), revents: 0),
                pollfd(fd: signals.descriptor.rawValue, events: Int16(POLLIN), revents: 0),
                pollfd(fd: control.descriptor.rawValue, events: Int16(POLLIN), revents: 0),
            ]
            let deadline = [nextDeadline(), nextWatchdog].compactMap { $0 }.min()
            let timeout = deadline.map { Int32(max(0, min(Self.milliseconds($0 - clock.now), 3_600_000))) } ?? -1
            let ready = poll(&descriptors, nfds_t(descriptors.count), timeout)
            if ready < 0 && errno != EINTR { throw DaemonError("poll: \(Errno(rawValue: errno))") }

            if descriptors[0].revents != 0 { try drain(source) }
            if descriptors[1].revents != 0 {
                for signal in signals.read() {
                    if signal == SIGHUP {
                        Systemd.notify("RELOADING=1\nMONOTONIC_USEC=\(Self.monotonicMicroseconds())")
                        logger.info("rescan requested", metadata: ["by": "SIGHUP"])
                        try rescan(rootFD: rootFD, reader: reader, options: options, source: source, warn: warn)
                        Systemd.notify("READY=1\nSTATUS=\(statusLine())")
                    } else {
                        Systemd.notify("STOPPING=1")
                        logger.info("stopping", metadata: ["signal": "\(signal)"])
                        withExtendedLifetime(lock) {}
                        return
                    }
                }
            }
            if descriptors[2].revents != 0 {
                while let client = control.accept() {
                    try serve(client, rootFD: rootFD, reader: reader, options: options, source: source, warn: warn)
                }
            }
            if let next = nextWatchdog, clock.now >= next, let watchdog {
                Systemd.notify("WATCHDOG=1")
                nextWatchdog = clock.now + watchdog
            }
            if let audit = nextAudit, clock.now >= audit, let interval = configuration.auditInterval {
                logger.info("audit scan started")
                try rescan(rootFD: rootFD, reader: reader, options: options, source: source, warn: warn)
                nextAudit = clock.now + interval
            }
            if isDue() {
                guard rootIsIntact() else {
                    throw DaemonError("the watched tree '\(configuration.root)' was removed, moved or unmounted")
                }
                let summary = try tracker.apply(
                    to: &index, root: configuration.root, rootFD: rootFD, reader: reader, options: options,
                    source: source, warn: warn)
                if summary.fullRescan {
                    logger.warning(
                        "event queue overflowed: rescanned the whole tree",
                        metadata: ["overflows": "\(tracker.overflows)", "drift": "\(summary.drift)"])
                }
                pendingSince = nil
                publish()
                Systemd.notify("STATUS=\(statusLine())")
            } else if let retry = retryAt, clock.now >= retry {
                publish()
            }
        }
    }

    // MARK: Events

    private func drain(_ source: some EventSource) throws {
        let events: [WatchEvent]
        do {
            events = try source.readEvents()
        } catch {
            throw DaemonError("\(source.name): \(error)")
        }
        guard !events.isEmpty else { return }
        // Removing or unmounting the root sends no event every source reports the same
        // way; a stat per batch of events settles it.
        guard rootIsIntact() else {
            throw DaemonError("the watched tree '\(configuration.root)' was removed, moved or unmounted")
        }
        let now = clock.now
        for event in events {
            guard tracker.note(event, source: source) else {
                throw DaemonError("the watched tree '\(configuration.root)' was removed or unmounted")
            }
        }
        eventTimes.append(contentsOf: repeatElement(now, count: events.count))
        if eventTimes.count > 100_000 { eventTimes.removeFirst(eventTimes.count - 100_000) }
        lastEvent = now
        if pendingSince == nil { pendingSince = now }
    }

    private var rootIdentity: (device: UInt64, inode: UInt64)?

    private func rootIsIntact() -> Bool {
        var info = stat()
        guard stat(configuration.root, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else { return false }
        guard let rootIdentity else { return true }
        return UInt64(info.st_dev) == rootIdentity.device && UInt64(info.st_ino) == rootIdentity.inode
    }

    private func isDue() -> Bool {
        guard tracker.hasWork, let pendingSince, let lastEvent else { return false }
        let now = clock.now
        return now - lastEvent >= configuration.settle || now - pendingSince >= configuration.maxDelay
    }

    private func nextDeadline() -> ContinuousClock.Instant? {
        var deadlines: [ContinuousClock.Instant] = []
        if tracker.hasWork, let pendingSince, let lastEvent {
            deadlines.append(min(lastEvent + configuration.settle, pendingSince + configuration.maxDelay))
        }
        if let retryAt { deadlines.append(retryAt) }
        if let nextAudit { deadlines.append(nextAudit) }
        return deadlines.min()
    }

    /// A full verification scan: whatever it changes is drift the events had missed.
    @discardableResult
    private func rescan(
        rootFD: FileDescriptor, reader: borrowing DirectoryReader, options: ScanOptions, source: some EventSource,
        warn: @escaping @Sendable (ScanWarning) -> Void
    ) throws -> ReconcileSummary {
        try drain(source)
        tracker.requestFullRescan()
        let summary = try tracker.apply(
            to: &index, root: configuration.root, rootFD: rootFD, reader: reader, options: options, source: source,
            warn: warn)
        rescans += 1
        lastDrift = summary
        qm_release_free_memory()
        let metadata: Logger.Metadata = [
            "added": "\(summary.added)", "removed": "\(summary.removed)",
            "changed": "\(summary.changed + summary.symlinksChanged)",
        ]
        if summary.drift > 0 {
            logger.warning("rescan found changes the events had missed", metadata: metadata)
        } else {
            logger.info("rescan found no drift", metadata: metadata)
        }
        pendingSince = nil
        publish()
        return summary
    }

    // MARK: Publishing

    private func publish() {
        do {
            var outcomes: [AtomicFile.Outcome] = []
            if let pathList = configuration.pathListPath {
                let file = try AtomicFile(target: pathList)
                try index.renderPaths { try file.write($0) }
                outcomes.append(try file.commit(ifChanged: true))
            }
            // The time list goes last: a client that sees it finds the others in place.
            let file = try AtomicFile(target: configuration.timeListPath)
            try index.render(version: configuration.version, algorithms: configuration.options.algorithms) {
                try file.write($0)
            }
            outcomes.append(try file.commit(ifChanged: true))
            retryAt = nil
            lastPublish = Date()
            if outcomes.contains(.replaced) || generation == 0 {
                generation += 1
                logger.info(
                    "list published",
                    metadata: [
                        "generation": "\(generation)", "entries": "\(index.count)",
                        "path": "\(configuration.timeListPath)",
                    ])
            }
        } catch {
            // The old list stays in place; try again shortly.
            retryAt = clock.now + .seconds(5)
            logger.error("cannot publish the list; keeping the old one and retrying", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Operators

    private func serve(
        _ client: FileDescriptor, rootFD: FileDescriptor, reader: borrowing DirectoryReader, options: ScanOptions,
        source: some EventSource, warn: @escaping @Sendable (ScanWarning) -> Void
    ) throws {
        defer { try? client.close() }
        var request: [UInt8] = []
        var byte: UInt8 = 0
        while request.count < 256, Glibc.read(client.rawValue, &byte, 1) == 1, byte != 0x0A { request.append(byte) }
        let command = String(decoding: request, as: UTF8.self).trimmingCharacters(in: .whitespaces)
        let reply: String
        switch command {
        case "status":
            reply = status(source: source)
        case "rescan":
            logger.info("rescan requested", metadata: ["by": "control socket"])
            let summary = try rescan(rootFD: rootFD, reader: reader, options: options, source: source, warn: warn)
            reply =
                "rescan: \(summary.added) added, \(summary.removed) removed, \(summary.changed + summary.symlinksChanged) changed"
                + " (drift the events had missed; 0 is expected)\nentries: \(index.count)\ngeneration: \(generation)\n"
        default:
            reply = "unknown command '\(command)': use status or rescan\n"
        }
        let bytes = Array(reply.utf8)
        _ = bytes.withUnsafeBytes { Glibc.write(client.rawValue, $0.baseAddress, $0.count) }
    }

    func status(source: some EventSource) -> String {
        let now = clock.now
        let recent = eventTimes.filter { now - $0 <= .seconds(60) }.count
        let published = lastPublish.map { "\(ISO8601DateFormatter().string(from: $0))" } ?? "never"
        return """
            root: \(configuration.root)
            list: \(configuration.timeListPath)
            events: \(source.name)\(source.watchCount > 0 ? " (\(source.watchCount) directory watches)" : "")
            entries: \(index.count)
            generation: \(generation)
            last publish: \(published)
            events per second: \(String(format: "%.1f", Double(recent) / 60)) (last minute)
            overflows: \(tracker.overflows)
            rescans: \(rescans)\(lastDrift.map { " (last drift: \($0.drift))" } ?? "")
            pending: \(tracker.hasWork ? "yes" : "no")

            """
    }

    private func statusLine() -> String { "\(index.count) entries, generation \(generation)" }

    private func warningLogger() -> @Sendable (ScanWarning) -> Void {
        let logger = self.logger
        return { warning in logger.warning("\(warning)") }
    }

    static func seconds(_ duration: Duration) -> String {
        String(format: "%.2f", Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    }

    static func monotonicMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
    }

    /// Sends a command to the daemon watching `configuration.root`.
    public static func control(_ command: String, configuration: DaemonConfiguration) throws(DaemonError) -> String {
        try ControlSocket.send(command, to: configuration.controlSocketPath)
    }
}
