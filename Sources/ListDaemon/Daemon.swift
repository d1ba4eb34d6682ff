import DaemonControl
import CLinuxFS
import ListProtocol
import FileList
import Foundation
import LinuxCalls
import Logging
import Monitoring
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
    private var trees: [WatchedTree] = []
    private var generation = 0
    /// Called on the event loop with each generation, once its lists are in place (the
    /// HTTP side serves and announces it). The generation number is counted here only.
    public var onPublish: (@Sendable (Publication) -> Void)?
    /// Read by the HTTP side's `/healthz`.
    public let health = PublishHealth()
    private let metrics = DaemonMetrics()
    /// List file -> its path as served; made once, not at every publish.
    private lazy var servedPaths = Dictionary(
        configuration.servedLists.map { ($0.file, $0.path) }, uniquingKeysWith: { first, _ in first })
    /// The digest of what this daemon last renamed into each list's place.
    private var publishedDigests: [String: String] = [:]
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

    private enum LoopInput { case events, signals, control }

    private var entries: Int { trees.reduce(0) { $0 + $1.index.count } }
    private var hasWork: Bool { trees.contains { $0.tracker.hasWork } }
    private var overflows: Int { trees.map { $0.tracker.overflows }.max() ?? 0 }

    /// Runs until SIGTERM or SIGINT (returns) or until a tree disappears (throws).
    public func run() throws {
        // First, before anything is created: a missing tree or a second daemon stops here.
        let lock = try TreeLock(root: configuration.root)
        let source = try EventSources.make(configuration.events, root: configuration.root, logger: logger)
        defer { source.close() }
        for listed in configuration.listedTrees {
            let prefix = Array((listed.module ?? "").utf8)
            trees.append(
                try WatchedTree(
                    listed: listed, prefix: prefix, options: configuration.scanOptions(for: listed), source: source))
        }
        // With modules, the top directory is watched too: a module removed or renamed
        // away must stop the daemon, not leave it listing nothing.
        if !configuration.modules.isEmpty { source.directoryOpened(lock.directory, path: []) }
        let signals = try SignalReader()
        let control = try ControlSocket(path: configuration.controlSocketPath)
        let warn = warningLogger()

        // The source is live before the scans start: a change made while they run is
        // queued and reconciled right after.
        for tree in trees {
            Systemd.notify("STATUS=Scanning \(tree.listed.root)")
            let started = clock.now
            _ = try tree.scan(warn: warn) { entries in
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
        try checkWatches(source)
        try drain(source)
        if hasWork { try reconcile(warn: warn) }
        pendingSince = hasWork ? clock.now : nil
        publish(trees)
        // The walk's per-directory buffers were freed in the worker threads' malloc
        // arenas; without a trim they stay resident for the life of the daemon.
        qm_release_free_memory()
        Systemd.notify("READY=1\nSTATUS=\(statusLine())")
        if let interval = configuration.auditInterval { nextAudit = clock.now + interval }
        let watchdog = Systemd.watchdogInterval
        var nextWatchdog = watchdog.map { clock.now + $0 }

        var loop = EventLoop<LoopInput>([
            (.events, source.fileDescriptor), (.signals, signals.descriptor), (.control, control.descriptor),
        ])
        while true {
            let ready = try loop.wait(timers: [nextDeadline(), nextWatchdog])

            if ready.contains(.events) { try drain(source) }
            if ready.contains(.signals) {
                for signal in signals.read() {
                    if signal == SIGHUP {
                        Systemd.notify("RELOADING=1\nMONOTONIC_USEC=\(Self.monotonicMicroseconds())")
                        logger.info("rescan requested", metadata: ["by": "SIGHUP"])
                        try rescan(source: source, warn: warn)
                        Systemd.notify("READY=1\nSTATUS=\(statusLine())")
                    } else {
                        Systemd.notify("STOPPING=1")
                        logger.info("stopping", metadata: ["signal": "\(signal)"])
                        withExtendedLifetime(lock) {}
                        return
                    }
                }
            }
            if ready.contains(.control) {
                while let client = control.accept() { try serve(client, source: source, warn: warn) }
            }
            if let next = nextWatchdog, clock.now >= next, let watchdog {
                Systemd.notify("WATCHDOG=1")
                nextWatchdog = clock.now + watchdog
            }
            if let audit = nextAudit, clock.now >= audit, let interval = configuration.auditInterval {
                logger.info("audit scan started")
                try rescan(source: source, warn: warn)
                nextAudit = clock.now + interval
            }
            if isDue() {
                let changed = try reconcile(warn: warn)
                // Directories that a file written through two names kept sending round
                // wait for the next batch.
                pendingSince = hasWork ? clock.now : nil
                publish(changed)
                Systemd.notify("STATUS=\(statusLine())")
            } else if let retry = retryAt, clock.now >= retry {
                publish(trees)
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
        lastEvent = now
        if pendingSince == nil { pendingSince = now }
    }

    /// A directory that could not be watched would make the list wrong without a word:
    /// stop, with the reason and what to change, rather than run blind.
    private func checkWatches(_ source: some EventSource) throws {
        guard let failure = source.failure else { return }
        logger.critical("cannot watch every directory: stopping", metadata: ["error": "\(failure)"])
        throw DaemonError("cannot watch every directory of '\(configuration.root)': \(failure)")
    }

    private func checkTreesAreIntact() throws {
        for tree in trees where !tree.isIntact {
            throw DaemonError("the watched tree '\(tree.listed.root)' was removed, moved or unmounted")
        }
    }

    /// Applies every tree's pending changes; returns the trees whose index changed (the
    /// others' lists would render to the same bytes, so they are not rendered). A hard link
    /// shared between modules changes the ctime of names in other modules too: those
    /// are found by inode and re-read in a second pass.
    @discardableResult
    private func reconcile(warn: @escaping @Sendable (ScanWarning) -> Void) throws -> [WatchedTree] {
        try checkTreesAreIntact()
        var touched: [WatchedTree] = []
        var linkedInodes: Set<UInt64> = []
        for tree in trees where tree.tracker.hasWork {
            let summary = try tree.apply(warn: warn)
            if summary.fullRescan {
                logger.warning(
                    "event queue overflowed: rescanned the whole tree",
                    metadata: [
                        "tree": "\(tree.name)", "overflows": "\(tree.tracker.overflows)", "drift": "\(summary.drift)",
                    ])
            }
            if summary.drift > 0 { touched.append(tree) }
            linkedInodes.formUnion(summary.linkedInodes)
        }
        if trees.count > 1 && !linkedInodes.isEmpty {
            for tree in trees {
                for node in tree.index.nodes(withInodes: linkedInodes) {
                    tree.tracker.markDirty(tree.index.path(of: tree.index.parentOf(node)))
                }
                if tree.tracker.hasWork, try tree.apply(warn: warn).drift > 0,
                    !touched.contains(where: { $0 === tree })
                {
                    touched.append(tree)
                }
            }
        }
        metrics.overflowsSeen(total: overflows)
        if let source = trees.first?.source { try checkWatches(source) }
        return touched
    }

    private func isDue() -> Bool {
        guard hasWork, let pendingSince, let lastEvent else { return false }
        let now = clock.now
        return now - lastEvent >= configuration.settle || now - pendingSince >= configuration.maxDelay
    }

    private func nextDeadline() -> ContinuousClock.Instant? {
        var deadlines: [ContinuousClock.Instant] = []
        if hasWork, let pendingSince, let lastEvent {
            deadlines.append(min(lastEvent + configuration.settle, pendingSince + configuration.maxDelay))
        }
        if let retryAt { deadlines.append(retryAt) }
        if let nextAudit { deadlines.append(nextAudit) }
        return deadlines.min()
    }

    /// A full verification scan: whatever it changes is drift the events had missed.
    @discardableResult
    private func rescan(source: some EventSource, warn: @escaping @Sendable (ScanWarning) -> Void) throws
        -> ReconcileSummary
    {
        try drain(source)
        var total = ReconcileSummary()
        total.fullRescan = true
        for tree in trees {
            tree.tracker.requestFullRescan()
            let summary = try tree.apply(warn: warn)
            total.added += summary.added
            total.removed += summary.removed
            total.changed += summary.changed
            total.symlinksChanged += summary.symlinksChanged
        }
        try checkWatches(source)
        rescans += 1
        lastDrift = total
        metrics.rescanned(drift: total.drift)
        qm_release_free_memory()
        let metadata: Logger.Metadata = [
            "added": "\(total.added)", "removed": "\(total.removed)",
            "changed": "\(total.changed + total.symlinksChanged)",
        ]
        if total.drift > 0 {
            logger.warning("rescan found changes the events had missed", metadata: metadata)
        } else {
            logger.info("rescan found no drift", metadata: metadata)
        }
        pendingSince = nil
        publish(trees)
        return total
    }

    // MARK: Publishing

    /// Publishes the lists of `changed` trees, and of every tree linked to one of them,
    /// linked lists in one commit step.
    private func publish(_ changed: [WatchedTree]) {
        guard !changed.isEmpty else { return }
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

        var replaced = false
        var failed = false
        var written: [Publication.File] = []
        var renamed: [AtomicFile] = []
        // Where the time goes, for the log: rendering and writing against making it durable.
        var rendering = Duration.zero
        for group in groups {
            let groupStarted = clock.now
            do {
                var pathLists: [AtomicFile] = []
                var timeLists: [AtomicFile] = []
                for tree in group {
                    for (path, imagesOnly) in [(tree.listed.pathListPath, false), (tree.listed.imageListPath, true)] {
                        guard let path else { continue }
                        let file = try AtomicFile(target: path, hashing: true)
                        try tree.index.renderPaths(imagesOnly: imagesOnly) { try file.write($0) }
                        pathLists.append(file)
                    }
                    let file = try AtomicFile(target: tree.listed.timeListPath, hashing: true)
                    try tree.index.render(version: configuration.version, algorithms: configuration.options.algorithms)
                    {
                        try file.write($0)
                    }
                    timeLists.append(file)
                }
                rendering += clock.now - groupStarted
                // Time lists go last: a client that sees one finds the others in place.
                // What this daemon published last is known by digest: not read back.
                // The renames' own durability (a journal commit) is waited for after the
                // announcement: until then a crash leaves the previous lists, whole.
                let pathOutcomes = try AtomicFile.commitTogether(
                    pathLists, ifChanged: true, targetDigests: publishedDigests, syncDirectoryLater: true)
                let timeOutcomes = try AtomicFile.commitTogether(
                    timeLists, ifChanged: true, targetDigests: publishedDigests, syncDirectoryLater: true)
                renamed += zip(pathLists + timeLists, pathOutcomes + timeOutcomes).filter { $0.1 == .replaced }.map(\.0)
                replaced = replaced || (pathOutcomes + timeOutcomes).contains(.replaced)
                var deltas: [String: FileListDelta] = [:]
                for (tree, (file, outcome)) in zip(group, zip(timeLists, timeOutcomes)) {
                    if outcome == .replaced, let base = publishedDigests[file.target], let result = file.digest {
                        deltas[file.target] = journalDelta(of: tree, from: base, to: result)
                    }
                    tree.index.startJournal(algorithms: configuration.options.algorithms)
                }
                for file in pathLists + timeLists {
                    guard let digest = file.digest else { continue }
                    publishedDigests[file.target] = digest
                    written.append(Publication.File(target: file.target, digest: digest, delta: deltas[file.target]))
                }
                for tree in group { metrics.entries(tree.index.count, list: servedPath(of: tree)) }
            } catch {
                // The old lists stay in place (or some of them: a rename that failed
                // midway); try again shortly, and let the server diff the next lists.
                for tree in group { tree.index.dropJournal() }
                failed = true
                logger.error(
                    "cannot publish the list; keeping the old one and retrying",
                    metadata: ["error": "\(error)", "trees": "\(group.map(\.name).joined(separator: " "))"])
            }
        }
        retryAt = failed ? clock.now + .seconds(5) : nil
        metrics.publishAttempted(took: clock.now - started, failed: failed)
        if failed { health.publishFailed() } else { health.publishSucceeded() }
        if !failed { lastPublish = Date() }
        // Lists that were replaced are served at once, even when another group failed.
        guard replaced || (generation == 0 && !failed) else { return }
        generation += 1
        metrics.published(generation: generation)
        logger.info(
            "list published",
            metadata: [
                "generation": "\(generation)", "entries": "\(entries)",
                "path": "\(changed.map(\.listed.timeListPath).joined(separator: " "))",
                "took": "\(Self.seconds(clock.now - started)) s", "rendering": "\(Self.seconds(rendering)) s",
            ])
        onPublish?(Publication(generation: generation, files: written))
        for file in renamed {
            do {
                try file.syncDirectory()
            } catch {
                logger.error(
                    "the new list is in place, but its rename may not survive a crash",
                    metadata: ["path": "\(file.target)", "error": "\(error)"])
            }
        }
    }

    /// The delta to the list just published from the one before, from what the index
    /// recorded changing; nil (the server diffs the two lists) when it has no record.
    private func journalDelta(of tree: WatchedTree, from base: String, to result: String) -> FileListDelta? {
        do {
            return try tree.index.journalDelta(base: base, result: result, algorithms: configuration.options.algorithms)
        } catch {
            logger.warning(
                "no delta from the index; the lists will be compared",
                metadata: ["list": "\(tree.listed.timeListPath)", "error": "\(error)"])
            return nil
        }
    }

    // MARK: Operators

    private func serve(
        _ client: FileDescriptor, source: some EventSource, warn: @escaping @Sendable (ScanWarning) -> Void
    ) throws {
        defer { try? client.close() }
        let reply: String
        switch ControlSocket.command(from: client) {
        case .success(.status):
            reply = status(source: source)
        case .success(.rescan):
            logger.info("rescan requested", metadata: ["by": "control socket"])
            let summary = try rescan(source: source, warn: warn)
            reply =
                "rescan: \(summary.added) added, \(summary.removed) removed, \(summary.changed + summary.symlinksChanged) changed"
                + " (drift the events had missed; 0 is expected)\nentries: \(entries)\ngeneration: \(generation)\n"
        case .success(.announce):
            reply = "error: announce is for a relay; this daemon announces what it publishes: use status or rescan\n"
        case .failure(let error):
            reply = "error: \(error): use status or rescan\n"
        }
        ControlSocket.reply(reply, to: client)
    }

    func status(source: some EventSource) -> String {
        let now = clock.now
        let recent = eventTimes.filter { now - $0 <= .seconds(60) }.count
        let published = lastPublish.map { "\(ISO8601DateFormatter().string(from: $0))" } ?? "never"
        return """
            root: \(configuration.root)
            lists: \(trees.map(\.listed.timeListPath).joined(separator: " "))
            events: \(source.name)\(source.watchCount > 0 ? " (\(source.watchCount) directory watches)" : "")
            entries: \(entries)\(trees.count > 1 ? " (" + trees.map { "\($0.name) \($0.index.count)" }.joined(separator: ", ") + ")" : "")
            generation: \(generation)
            last publish: \(published)
            events per second: \(String(format: "%.1f", Double(recent) / 60)) (last minute)
            overflows: \(overflows)
            rescans: \(rescans)\(lastDrift.map { " (last drift: \($0.drift))" } ?? "")
            pending: \(hasWork ? "yes" : "no")

            """
    }

    /// The tree's time list as the HTTP side names it: the label of its figures.
    private func servedPath(of tree: WatchedTree) -> String {
        servedPaths[tree.listed.timeListPath] ?? tree.listed.timeListPath
    }

    private func statusLine() -> String { "\(entries) entries, generation \(generation)" }

    private func warningLogger() -> @Sendable (ScanWarning) -> Void {
        let logger = self.logger
        return { warning in logger.warning("\(warning)") }
    }

    static func seconds(_ duration: Duration) -> String {
        String(format: "%.2f", Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
    }

    static func monotonicMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
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
