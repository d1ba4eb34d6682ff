import CLinuxFS
import DaemonControl
import FileList
import Foundation
import LinuxCalls
import ListProtocol
import Logging
import Monitoring
import Publish
import SystemPackage
import Systemd
import TreeIndex
import TreeScan
import TreeWatch

/// The `filelistd` service: scans once, follows kernel events, and republishes the lists
/// within `settle` of the tree going quiet.
///
/// Built from its parts, so that a test drives it step by step: an event source (the
/// kernel's, or one fed by hand), a clock (the system's, or one moved by hand), the
/// configuration's trees. `start()` scans and publishes the first lists; `takeEvents()`
/// notes what the source reports; `runDueWork()` publishes, retries and audits what is
/// due at the clock's instant; `handle(_:)` answers an operator's command. `run()` is the
/// service: the same steps in one poll(2) loop with signals, the control socket and the
/// watchdog. The publisher (`ListPublisher`) owns the lists' versions and the generation.
public final class Daemon {
    let configuration: DaemonConfiguration
    let logger: Logger
    let clock: any DaemonClock
    public let publisher: ListPublisher
    /// Read by the HTTP side's `/healthz`.
    public let health = PublishHealth()
    /// Commands from other threads (the HTTP side's `POST /rescan`), carried out by `run`.
    public let inbox: CommandInbox?
    private let metrics = DaemonMetrics()
    private var schedule: PublishSchedule
    private var trees: [WatchedTree] = []
    private let givenSource: (any EventSource)?
    private var source: (any EventSource)?
    private var lock: TreeLock?
    /// A list file -> its path as served.
    private let servedPaths: [String: String]
    private var lastPublish: Date?
    private var eventTimes: [ContinuousClock.Instant] = []
    private var rescans = 0
    private var lastDrift: ReconcileSummary?
    private var directoriesRead = 0

    /// Called with each generation, once its lists are built and before they are renamed
    /// into place (the HTTP side serves them from their open files and announces them).
    public var onPublish: ((Publication) -> Void)? {
        get { publisher.onPublish }
        set { publisher.onPublish = newValue }
    }

    /// `source` replaces the kernel's (a test's `ManualEventSource`); `clock` the system's.
    public init(
        configuration: DaemonConfiguration, logger: Logger, clock: any DaemonClock = SystemDaemonClock(),
        source: (any EventSource)? = nil
    ) {
        self.configuration = configuration
        self.logger = logger
        self.clock = clock
        givenSource = source
        inbox = try? CommandInbox()
        schedule = PublishSchedule(
            settle: configuration.settle, maxDelay: configuration.maxDelay, auditInterval: configuration.auditInterval)
        servedPaths = Dictionary(
            configuration.servedLists.map { ($0.file, $0.path) }, uniquingKeysWith: { first, _ in first })
        let health = self.health
        let installLogger = logger
        publisher = ListPublisher(
            installer: ListInstaller { outcome in
                switch outcome {
                case .installed(let generation, let targets, let took):
                    installLogger.debug(
                        "lists renamed into place",
                        metadata: [
                            "generation": "\(generation)", "path": "\(targets.joined(separator: " "))",
                            "took": "\(Self.seconds(took)) s",
                        ])
                case .failed(let generation, let targets, let error):
                    health.publishFailed()
                    installLogger.error(
                        "the new lists are served but cannot be renamed into place; retrying",
                        metadata: [
                            "generation": "\(generation)", "path": "\(targets.joined(separator: " "))",
                            "error": "\(error)",
                        ])
                }
            })
    }

    private var entries: Int { trees.reduce(0) { $0 + $1.index.count } }
    private var hasWork: Bool { trees.contains { $0.tracker.hasWork } }
    private var overflows: Int { trees.map { $0.tracker.overflows }.max() ?? 0 }
    public var generation: Int { publisher.generation }

    // MARK: Steps

    /// Takes the tree's lock, starts following events, scans every tree and publishes
    /// the first lists. Throws when the tree is missing, locked, or cannot be watched.
    public func start() throws {
        // First, before anything is created: a missing tree or a second daemon stops here.
        lock = try TreeLock(root: configuration.root)
        let source =
            try givenSource ?? EventSources.make(configuration.events, root: configuration.root, logger: logger)
        self.source = source
        for listed in configuration.listedTrees {
            let prefix = Array((listed.module ?? "").utf8)
            trees.append(
                try WatchedTree(
                    listed: listed, prefix: prefix, options: configuration.scanOptions(for: listed), source: source))
        }
        // With modules, the top directory is watched too: a module removed or renamed
        // away must stop the daemon, not leave it listing nothing.
        if !configuration.modules.isEmpty, let lock { source.directoryOpened(lock.directory, path: []) }
        // The source is live before the scans start: a change made while they run is
        // queued and reconciled right after.
        for tree in trees {
            Systemd.notify("STATUS=Scanning \(tree.listed.root)")
            let started = clock.now
            _ = try tree.scan(warn: warningLogger()) { entries in
                // Live counts for `systemctl status` during a scan that can take minutes.
                Systemd.notify("STATUS=Scanning \(tree.listed.root): \(entries) entries so far")
            }
            logger.info(
                "initial scan done",
                metadata: [
                    "tree": "\(tree.name)", "entries": "\(tree.index.count)",
                    "seconds": "\(Self.seconds(clock.now - started))", "watches": "\(source.watchCount)",
                ])
        }
        for tree in trees { tree.noteUnsettledLinks() }
        try checkWatches()
        try takeEvents()
        if hasWork { try reconcile() }
        schedule = PublishSchedule(
            settle: configuration.settle, maxDelay: configuration.maxDelay, auditInterval: configuration.auditInterval)
        let succeeded = publish(trees)
        schedule.published(at: clock.now, succeeded: succeeded, leftOver: hasWork)
        // READY means the first lists are in place: units ordered after this one (an
        // rsync daemon, a first sync) find them on disk.
        publisher.installer.drain()
        // The walk's per-directory buffers were freed in the worker threads' malloc
        // arenas; without a trim they stay resident for the life of the daemon.
        Linux.releaseFreeMemory()
        schedule.started(at: clock.now)
        Systemd.notify("READY=1\nSTATUS=\(statusLine())")
    }

    /// Reads what the event source has queued and notes it for the next publish.
    public func takeEvents() throws {
        guard let source else { return }
        let events: [WatchEvent]
        do {
            events = try source.readEvents()
        } catch {
            throw DaemonError("\(source.name): \(error)")
        }
        guard !events.isEmpty else { return }
        // Removing or unmounting a tree sends no event that every source reports the
        // same way; a stat per batch of events settles it.
        try checkTreesAreIntact()
        let now = clock.now
        var taken = 0
        for event in events {
            logger.debug("event", metadata: ["event": "\(event)"])
            var relevant = false
            for tree in trees {
                guard let local = tree.localEvent(event) else { continue }
                relevant = true
                guard tree.note(local) else {
                    throw DaemonError("the watched tree '\(configuration.root)' was removed, moved or unmounted")
                }
            }
            if relevant { taken += 1 }
        }
        // A file system mark also reports files elsewhere: they neither count nor delay.
        guard taken > 0 else { return }
        metrics.eventsRead(taken)
        eventTimes.append(contentsOf: repeatElement(now, count: taken))
        if eventTimes.count > 100_000 { eventTimes.removeFirst(eventTimes.count - 100_000) }
        schedule.changed(at: now)
    }

    /// Publishes, retries or audits whatever is due at the clock's instant.
    public func runDueWork() throws {
        let now = clock.now
        if schedule.auditDue(at: now) {
            logger.info("audit scan started")
            try rescan()
            schedule.audited(at: clock.now)
        }
        if hasWork && schedule.publishDue(at: now) {
            let changed = try reconcile()
            let succeeded = publish(changed)
            // Directories that a file written through two names kept sending round wait
            // for the next batch.
            schedule.published(at: clock.now, succeeded: succeeded, leftOver: hasWork)
            Systemd.notify("STATUS=\(statusLine())")
        } else if schedule.retryDue(at: now) {
            let succeeded = publish(trees)
            schedule.published(at: clock.now, succeeded: succeeded, leftOver: hasWork)
        }
    }

    /// When `runDueWork` next has something to do.
    public var nextDeadline: ContinuousClock.Instant? { schedule.nextDeadline }

    /// Waits for the lists given to the installer to be renamed into place, and stops
    /// following events.
    public func stop() {
        publisher.installer.drain()
        (source as? EventReaderThread)?.close()
        lock = nil
    }

    // MARK: The service

    private enum LoopInput { case events, signals, control, inbox }

    /// Runs until SIGTERM or SIGINT (returns) or until a tree disappears (throws).
    public func run() throws {
        defer { stop() }
        try start()
        let signals = try SignalReader()
        let control = try ControlSocket(path: configuration.controlSocketPath)
        let watchdog = Systemd.watchdogInterval
        var nextWatchdog = watchdog.map { clock.now + $0 }
        guard let source else { return }
        var inputs: [(LoopInput, FileDescriptor)] = [
            (.events, source.fileDescriptor), (.signals, signals.descriptor), (.control, control.descriptor),
        ]
        if let inbox { inputs.append((.inbox, inbox.descriptor)) }
        var loop = EventLoop<LoopInput>(inputs)
        while true {
            let ready = try loop.wait(timers: [nextDeadline, nextWatchdog])
            if ready.contains(.events) { try takeEvents() }
            if ready.contains(.signals) {
                for signal in signals.read() {
                    if signal == SIGHUP {
                        Systemd.notify("RELOADING=1\nMONOTONIC_USEC=\(Linux.monotonicMicroseconds())")
                        logger.info("rescan requested", metadata: ["by": "SIGHUP"])
                        try rescan()
                        Systemd.notify("READY=1\nSTATUS=\(statusLine())")
                    } else {
                        Systemd.notify("STOPPING=1")
                        logger.info("stopping", metadata: ["signal": "\(signal)"])
                        return
                    }
                }
            }
            if ready.contains(.control) {
                while let client = control.accept() {
                    defer { try? client.close() }
                    let reply: String
                    switch ControlSocket.command(from: client, limit: 1 << 16) {
                    case .success(let command): reply = try handle(command)
                    case .failure(let error): reply = "error: \(error): use status, rescan or rescan PATH...\n"
                    }
                    ControlSocket.reply(reply, to: client)
                }
            }
            if ready.contains(.inbox), let inbox {
                for (command, reply) in inbox.take() {
                    do {
                        reply.resume(returning: try handle(command))
                    } catch {
                        reply.resume(returning: "error: \(error)\n")
                        throw error
                    }
                }
            }
            if let next = nextWatchdog, clock.now >= next, let watchdog {
                Systemd.notify("WATCHDOG=1")
                nextWatchdog = clock.now + watchdog
            }
            try runDueWork()
        }
    }

    // MARK: Operators

    /// The reply to an operator's command (the control socket's, or a test's).
    public func handle(_ command: ControlCommand) throws -> String {
        switch command {
        case .status:
            return status()
        case .rescan:
            logger.info("rescan requested", metadata: ["by": "control socket"])
            let summary = try rescan()
            return "rescan: \(summary.added) added, \(summary.removed) removed, "
                + "\(summary.changed + summary.symlinksChanged) changed (drift the events had missed; 0 is expected)\n"
                + "entries: \(entries)\ngeneration: \(generation)\n"
        case .rescanPaths(let paths):
            return try rescan(paths: paths)
        case .announce:
            return "error: announce is for a relay; this daemon announces what it publishes: use status or rescan\n"
        }
    }

    // MARK: Reconciling

    /// A directory that could not be watched would make the list wrong without a word:
    /// stop, with the reason and what to change, rather than run blind.
    private func checkWatches() throws {
        guard let failure = source?.failure else { return }
        logger.critical("cannot watch every directory: stopping", metadata: ["error": "\(failure)"])
        throw DaemonError("cannot watch every directory of '\(configuration.root)': \(failure)")
    }

    private func checkTreesAreIntact() throws {
        for tree in trees where !tree.isIntact {
            throw DaemonError("the watched tree '\(tree.listed.root)' was removed, moved or unmounted")
        }
    }

    /// Applies every tree's pending changes; returns the trees whose index changed (the
    /// others' lists would render to the same bytes). A hard link shared between modules
    /// changes the ctime of names in other modules too: those are found by inode and
    /// re-read in a second pass.
    @discardableResult
    private func reconcile() throws -> [WatchedTree] {
        try checkTreesAreIntact()
        var touched: [WatchedTree] = []
        var linkedInodes: Set<UInt64> = []
        for tree in trees where tree.tracker.hasWork {
            let summary = try tree.apply(warn: warningLogger())
            directoriesRead += summary.directoriesRead
            switch summary.fullRescanCause {
            case .overflow:
                logger.warning(
                    "event queue overflowed: rescanned the whole tree",
                    metadata: [
                        "tree": "\(tree.name)", "overflows": "\(tree.tracker.overflows)", "drift": "\(summary.drift)",
                    ])
            case .nameCameAndWent(let path):
                logger.warning(
                    "a name came and went before inotify could learn its inode (a hard link would change another name's time, which inotify does not report): rescanned the whole tree",
                    metadata: [
                        "tree": "\(tree.name)", "path": "\(String(decoding: path, as: UTF8.self))",
                        "times": "\(tree.tracker.namesCameAndWent)", "changes": "\(summary.drift)",
                    ])
            case .requested, nil:
                break
            }
            if tree.index.hasUnpublishedChanges { touched.append(tree) }
            linkedInodes.formUnion(summary.linkedInodes)
        }
        if trees.count > 1 && !linkedInodes.isEmpty {
            for tree in trees {
                for node in tree.index.nodes(withInodes: linkedInodes) {
                    tree.tracker.markDirty(tree.index.path(of: tree.index.parentOf(node)))
                }
                if tree.tracker.hasWork {
                    directoriesRead += try tree.apply(warn: warningLogger()).directoriesRead
                }
                if tree.index.hasUnpublishedChanges, !touched.contains(where: { $0 === tree }) { touched.append(tree) }
            }
        }
        metrics.overflowsSeen(total: overflows)
        try checkWatches()
        return touched
    }

    /// A full verification scan: whatever it changes is drift the events had missed.
    @discardableResult
    private func rescan() throws -> ReconcileSummary {
        try takeEvents()
        let started = clock.now
        var total = ReconcileSummary()
        total.fullRescan = true
        for tree in trees {
            tree.tracker.requestFullRescan()
            let summary = try tree.apply(warn: warningLogger())
            total.added += summary.added
            total.removed += summary.removed
            total.changed += summary.changed
            total.symlinksChanged += summary.symlinksChanged
        }
        try checkWatches()
        rescans += 1
        lastDrift = total
        metrics.rescanned(drift: total.drift)
        Linux.releaseFreeMemory()
        let metadata: Logger.Metadata = [
            "added": "\(total.added)", "removed": "\(total.removed)",
            "changed": "\(total.changed + total.symlinksChanged)", "took": "\(Self.seconds(clock.now - started)) s",
        ]
        if total.drift > 0 {
            logger.warning("rescan found changes the events had missed", metadata: metadata)
        } else {
            logger.info("rescan found no drift", metadata: metadata)
        }
        let succeeded = publish(trees.filter { $0.index.hasUnpublishedChanges })
        schedule.published(at: clock.now, succeeded: succeeded, leftOver: hasWork)
        return total
    }

    /// Re-reads the subtrees at `paths` (relative to the watched directory, or absolute
    /// inside it), for writers the kernel reports nothing about (NFS clients on other
    /// hosts), and publishes what changed. Refuses, changing nothing, any path outside
    /// the tree.
    private func rescan(paths: [String]) throws -> String {
        var targets: [(WatchedTree, [UInt8])] = []
        for path in paths {
            switch RescanPath.resolve(path, root: configuration.root, trees: trees.map(\.prefix)) {
            case .failure(let reason):
                logger.warning("rescan refused", metadata: ["path": "\(path)", "reason": "\(reason)"])
                return "error: \(reason)\n"
            case .success(let (treeIndex, relative)):
                targets.append((trees[treeIndex], relative))
            }
        }
        try takeEvents()
        let readBefore = directoriesRead
        var total = ReconcileSummary()
        for (tree, relative) in targets { tree.tracker.requestRescan(of: relative) }
        for tree in trees where tree.tracker.hasWork {
            let summary = try tree.apply(warn: warningLogger())
            directoriesRead += summary.directoriesRead
            total.added += summary.added
            total.removed += summary.removed
            total.changed += summary.changed + summary.symlinksChanged
        }
        try checkWatches()
        logger.info(
            "rescan of paths done",
            metadata: [
                "paths": "\(paths.joined(separator: " "))", "directories": "\(directoriesRead - readBefore)",
                "added": "\(total.added)", "removed": "\(total.removed)", "changed": "\(total.changed)",
            ])
        let succeeded = publish(trees.filter { $0.index.hasUnpublishedChanges })
        schedule.published(at: clock.now, succeeded: succeeded, leftOver: hasWork)
        return "rescan \(paths.joined(separator: " ")): \(directoriesRead - readBefore) directories read, "
            + "\(total.added) added, \(total.removed) removed, \(total.changed) changed\n"
            + "generation: \(generation)\n"
    }

    // MARK: Publishing

    /// Publishes the lists of `changed` trees, and of every tree linked to one of them,
    /// linked lists in one group (renamed together). Returns whether every group succeeded.
    @discardableResult
    private func publish(_ changed: [WatchedTree]) -> Bool {
        guard !changed.isEmpty || generation == 0 else { return true }
        let started = clock.now
        let changedNames = Set(changed.map(\.name))
        var groups: [[WatchedTree]] = []
        var placed: Set<String> = []
        for group in configuration.linkedGroups where group.contains(where: changedNames.contains) {
            let members = trees.filter { group.contains($0.name) && !placed.contains($0.name) }
            placed.formUnion(members.map(\.name))
            if !members.isEmpty { groups.append(members) }
        }
        for tree in changed where !placed.contains(tree.name) { groups.append([tree]) }

        let algorithms = configuration.options.algorithms
        let before = generation
        let outcomes = publisher.publish(
            groups.map { group in
                let renders = group.map { tree in
                    tree.renders(
                        version: configuration.version, algorithms: algorithms, servedPath: servedPath(of:),
                        published: { self.publisher.current[$0] != nil })
                }
                // Path lists first, then time lists: a client that sees one new time list
                // finds the others in place.
                return renders.flatMap(\.pathLists) + renders.compactMap(\.timeList)
            })
        var failed = false
        for (group, outcome) in zip(groups, outcomes) {
            switch outcome {
            case .published:
                for tree in group {
                    tree.published(algorithms: algorithms)
                    metrics.entries(tree.index.count, list: servedPath(of: tree.listed.timeListPath))
                }
            case .failed(let error):
                failed = true
                for tree in group { tree.publishFailed() }
                logger.error(
                    "cannot publish the list; keeping the old one and retrying",
                    metadata: ["error": "\(error)", "trees": "\(group.map(\.name).joined(separator: " "))"])
            }
        }
        metrics.publishAttempted(took: clock.now - started, failed: failed)
        if failed { health.publishFailed() } else { health.publishSucceeded() }
        if !failed { lastPublish = Date() }
        if generation != before {
            metrics.published(generation: generation)
            logger.info(
                "list published",
                metadata: [
                    "generation": "\(generation)", "entries": "\(entries)",
                    "path": "\(changed.map(\.listed.timeListPath).joined(separator: " "))",
                    "took": "\(Self.seconds(clock.now - started)) s",
                    "written": "\(publisher.lastStatistics.written)", "copied": "\(publisher.lastStatistics.copied)",
                    "shared": "\(publisher.lastStatistics.shared)",
                ])
        }
        return !failed
    }

    /// The list as the HTTP side names it.
    private func servedPath(of file: String) -> String { servedPaths[file] ?? file }

    // MARK: Status

    func status() -> String {
        let now = clock.now
        let recent = eventTimes.filter { now - $0 <= .seconds(60) }.count
        let published = lastPublish.map { "\(ISO8601DateFormatter().string(from: $0))" } ?? "never"
        return """
            root: \(configuration.root)
            lists: \(trees.map(\.listed.timeListPath).joined(separator: " "))
            events: \(source?.name ?? "none")\((source?.watchCount ?? 0) > 0 ? " (\(source?.watchCount ?? 0) directory watches)" : "")
            entries: \(entries)\(trees.count > 1 ? " (" + trees.map { "\($0.name) \($0.index.count)" }.joined(separator: ", ") + ")" : "")
            generation: \(generation)
            last publish: \(published)
            events per second: \(String(format: "%.1f", Double(recent) / 60)) (last minute)
            directories read: \(directoriesRead)
            overflows: \(overflows)
            rescans: \(rescans)\(lastDrift.map { " (last drift: \($0.drift))" } ?? "")
            pending: \(hasWork ? "yes" : "no")

            """
    }

    private func statusLine() -> String { "\(entries) entries, generation \(generation)" }

    private func warningLogger() -> @Sendable (ScanWarning) -> Void {
        let logger = self.logger
        return { warning in logger.warning("\(warning)") }
    }

    static func seconds(_ duration: Duration) -> String {
        String(format: "%.2f", Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
    }

    /// Sends a command to the daemon watching `configuration.root`; when none answers,
    /// says which daemon holds the tree and with which runtime directory.
    public static func control(_ command: ControlCommand, configuration: DaemonConfiguration) throws(DaemonError)
        -> String
    {
        do {
            return try LocalControl.send(command, to: configuration.controlSocketPath)
        } catch {
            throw DaemonError(
                RunningDaemon.explainSilence(
                    root: configuration.root, socket: configuration.controlSocketPath,
                    runtimeDirectory: configuration.runtimeDirectory, error: error.description))
        }
    }
}
