import DaemonControl
import ListProtocol
import Foundation
import LinuxCalls
import Logging

/// What the command line asks of a run: the reference's flags, and quick-mirror's own.
public struct RunOptions: Sendable {
    public var configPath: String?
    /// `--set KEY=VALUE` lines, read after the file.
    public var settings: [String] = []
    /// `-d`: overrides VERBOSE.
    public var verbosity: Int?
    public var alwaysCheck = false
    public var dryRun = false
    public var transferOnly = false
    /// `-t` / `-T`: the time to take as the last successful run (implies -a).
    public var since: Int64?
    public var noParanoia = false
    public var allDirectoryTimes = false
    public var checkinOnly = false
    public var refresh: String?
    public var dumpCheckin: String?
    public var hook: String?
    public var deletionGuard = DeletionGuard()
    /// Where the reference also looks for its configuration: beside the executable.
    public var executableDirectory: String?

    public init() {}

    /// The reference's order: `-c`, /etc, ~/.config, beside the executable, the
    /// current directory; the first readable one.
    public var searchPath: [String] {
        ["/etc/quick-fedora-mirror.conf", "\(NSHomeDirectory())/.config/quick-fedora-mirror.conf"]
            + (executableDirectory.map { ["\($0)/quick-fedora-mirror.conf"] } ?? []) + ["./quick-fedora-mirror.conf"]
    }
}

/// A configured client holding its destination's lock: runs syncs (once, or as a
/// follower), and after each the check-in, the relay notification and the hook.
public final class SyncSession {
    public let sync: MirrorSync
    public let logger: Logger
    public let options: RunOptions
    public let configFile: String
    let verbosity: Int
    let lock: FileLock
    /// The last summary printed, so a follower says "nothing changed upstream" once.
    private var lastPrinted: String?

    /// Reads the configuration and takes the destination's lock.
    public init(options: RunOptions) throws {
        self.options = options
        var text = ""
        var file = "--set"
        if let path = options.configPath {
            guard Linux.canRead(path), let data = FileManager.default.contents(atPath: path) else {
                throw SyncError("cannot read config '\(path)': \(String(cString: strerror(errno)))")
            }
            file = path
            text = String(decoding: data, as: UTF8.self)
        } else if let path = options.searchPath.first(where: Linux.canRead),
            let data = FileManager.default.contents(atPath: path)
        {
            file = path
            text = String(decoding: data, as: UTF8.self)
        } else if options.settings.isEmpty {
            throw SyncError(
                "no config: give -c FILE or --set KEY=VALUE (searched \(options.searchPath.joined(separator: ", ")))")
        }
        configFile = file
        // Command-line settings come after the file, so they win.
        text += "\n" + options.settings.map { $0.replacingOccurrences(of: "\n", with: " ") }.joined(separator: "\n")
        var parser = ShellConfigParser()
        let configuration = try parser.parse(text, file: file)
        let verbosity = options.verbosity ?? configuration.verbose
        self.verbosity = verbosity
        let handler = MirrorLogHandler(
            verbosity: verbosity, logFile: configuration.logFile, logItems: configuration.logItems,
            journal: configuration.logJournal)
        let logger = Logger(label: "quick-mirror") { _ in handler }
        self.logger = logger
        // A mistake in the file is worth saying even to cron: the run would not do what was meant.
        for warning in parser.warnings { StandardStreams.errorLine("quick-mirror: warning: \(warning)") }
        guard !configuration.destination.isEmpty else { throw SyncError("DESTD is not set (in \(file))") }

        // A first run on a new mirror: the destination (where the lock lives) may not exist yet.
        let lockPath = configuration.effectiveTimeFile + ".lock"
        try? FileManager.default.createDirectory(
            atPath: (lockPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        do {
            lock = try FileLock(path: lockPath)
        } catch {
            throw Self.contention(error, configuration: configuration, verbosity: verbosity, logger: logger)
        }

        var sync = MirrorSync(configuration: configuration, logger: logger)
        // On a terminal, with -d 1 or more, rsync shows how the transfer is going.
        sync.rsync.showsProgress = StandardStreams.isTerminal(STDOUT_FILENO) && verbosity >= 1
        sync.alwaysCheck = options.alwaysCheck || options.since != nil
        sync.dryRun = options.dryRun
        sync.noDeletions = options.transferOnly || options.dryRun
        sync.since = options.since
        sync.noParanoia = options.noParanoia
        sync.allDirectoryTimes = options.allDirectoryTimes
        sync.guardRule = options.deletionGuard
        sync.collectDirectories = configuration.checkin.site != nil || options.dumpCheckin != nil
        sync.refresh = try MirrorSync.regularExpression(options.refresh, key: "--refresh")
        self.sync = sync
    }

    /// Another run holds the lock. As the reference: quiet (cron runs overlap when a sync
    /// takes longer than the interval), unless runs have been failing for WARNDELAY.
    static func contention(
        _ error: any Error, configuration: ClientConfiguration, verbosity: Int, logger: Logger
    ) -> Error {
        logger.info("lock contention: \(error)", metadata: ["item": "k"])
        let last = LastRun.read(configuration.effectiveTimeFile)
        if let last, Int64(Date().timeIntervalSince1970) - last > Int64(configuration.warnDelay) {
            let date = Date(timeIntervalSince1970: TimeInterval(last))
            logger.error("no completed run since \(date)")
            return SyncError("another quick-mirror run holds the lock (\(error)); no completed run since \(date)")
        }
        return SessionExit(status: 1, message: verbosity >= 1 ? "another quick-mirror run holds the lock (\(error))" : nil)
    }

    /// Runs once; returns whether anything changed upstream. `announcement` is the
    /// upstream's latest, when following its change stream: its hops are passed on.
    @discardableResult
    public func syncOnce(announcement: Announcement? = nil, following: Bool = false) throws -> Bool {
        let configuration = sync.configuration
        if options.checkinOnly {
            checkIn(directories: try sync.installedDirectories())
            return false
        }
        logger.debug("run start: config \(configFile)", metadata: ["item": "r"])
        let started = ContinuousClock.now
        let startedAt = Date()
        let summary: SyncSummary
        do {
            summary = try sync.run()
        } catch {
            logger.error("\(error)", metadata: ["stderr": "no"])
            recordMetrics(nil, started: started)
            throw error
        }
        // A run that installed what it fetched (not -n, -N, --refresh): which origin
        // generation that is, for the relay, the metrics and the trace file.
        let installedAll = !sync.dryRun && !sync.noDeletions && sync.refresh == nil
        var upstream: UpstreamOrigin?
        if installedAll, let base = configuration.httpListSource, !summary.listETags.isEmpty {
            upstream = UpstreamOrigin.look(
                base: base, etags: summary.listETags,
                timeout: configuration.rsyncTimeout > 0 ? Double(min(configuration.rsyncTimeout, 30)) : 30)
            if upstream == nil { logger.debug("the upstream did not say which origin generation these lists are") }
        }
        recordMetrics(summary, started: started, upstream: upstream)
        if installedAll { writeTrace(started: startedAt, upstream: upstream) }
        let changed = !summary.changedModules.isEmpty
        logger.notice("\(summary.line)", metadata: ["item": changed ? "R" : "n", "stderr": "no"])
        for (path, how) in summary.listFetches.sorted(by: { $0.key < $1.key }) {
            logger.debug("list \(path): \(how)", metadata: ["item": "o"])
        }
        // As the reference at VERBOSE=1: a run that found nothing says nothing, since cron
        // mails whatever a job prints; a follower says it once after each change.
        let worthSaying = changed || verbosity >= 2 || (following && lastPrinted != summary.line)
        if verbosity >= 1 && worthSaying {
            StandardStreams.printLine(summary.line)
        }
        lastPrinted = summary.line
        let complete = changed && !sync.dryRun && !sync.noDeletions && sync.refresh == nil
        // The upstream's own word on which announcement these lists are beats the stream's
        // latest: a newer generation may have come during the sync.
        if let announcement = upstream?.announcement ?? announcement, changed {
            logger.info("synced upstream generation \(announcement.generation), route \(announcement.route)")
        }
        if complete { checkIn(directories: summary.directories) }
        if let runtime = configuration.notifyFilelistd, complete {
            notify(runtime: runtime, hops: (upstream?.announcement ?? announcement)?.hops ?? [])
        }
        if let hook = options.hook, complete {
            try HookRunner.run(hook, modules: summary.changedModules, logger: logger)
        }
        return changed && !sync.dryRun
    }

    /// METRICSFILE, after a run that was meant to change the mirror (not -n). A file that
    /// cannot be written does not fail the sync (the mirror is correct); it is said.
    func recordMetrics(_ summary: SyncSummary?, started: ContinuousClock.Instant, upstream: UpstreamOrigin? = nil) {
        guard let path = sync.configuration.metricsFile, !sync.dryRun else { return }
        let run = MetricsFile.Run(
            ended: Date(), duration: ContinuousClock.now - started, summary: summary,
            modules: sync.configuration.effectiveModules, origin: upstream?.origin, lag: upstream?.lag)
        do {
            try MetricsFile.write(run, to: path)
        } catch {
            logger.error("cannot write METRICSFILE '\(path)': \(error)", metadata: ["item": "E"])
        }
    }

    /// TRACEFILE, after a successful run. Like METRICSFILE, a file that cannot be written
    /// is said, and does not fail the sync.
    func writeTrace(started: Date, upstream: UpstreamOrigin?) {
        guard let path = sync.configuration.traceFile else { return }
        let ended = InternetTime.format(Date().timeIntervalSince1970)
        let origin = upstream?.origin
        var trace = TraceFile(
            host: sync.configuration.checkin.host, date: ended,
            started: InternetTime.format(started.timeIntervalSince1970), origin: origin, installed: nil,
            lagSeconds: upstream?.lag, upstream: sync.configuration.listSource)
        if let origin { trace.installed = TraceFile.previousInstall(at: path, of: origin) ?? ended }
        do {
            try trace.write(to: path)
        } catch {
            logger.error("cannot write TRACEFILE '\(path)': \(error)", metadata: ["item": "E"])
        }
    }

    /// The MirrorManager check-in of each module in `directories`, when CHECKIN_SITE is
    /// set (or the request is only to be dumped).
    func checkIn(directories: [String: [String]]) {
        let settings = sync.configuration.checkin
        guard settings.site != nil || options.dumpCheckin != nil else { return }
        let logger = self.logger
        var checkin = MirrorManagerCheckin(settings: settings, logger: logger)
        if sync.configuration.rsyncTimeout > 0 { checkin.timeout = Double(sync.configuration.rsyncTimeout) }
        for module in sync.configuration.effectiveModules {
            guard let list = directories[module] else { continue }
            checkin.checkIn(
                module: module, moduleDirectory: sync.configuration.directory(of: module), directories: list,
                dump: options.dumpCheckin)
        }
    }

    /// Tells the local relay that new lists are installed. Its failure does not fail the
    /// sync (the mirror is correct); the relay also re-reads its lists on SIGHUP.
    func notify(runtime: String, hops: [Hop]) {
        let socket = LocalControl.socketPath(
            root: LocalControl.absolutePath(sync.configuration.destination), runtimeDirectory: runtime)
        do {
            let records = sync.configuration.httpListSource.map { _ in
                LocalControl.absolutePath(InstalledLists.path(timeFile: sync.configuration.effectiveTimeFile))
            }
            var reply = try LocalControl.send(.announce(hops: hops, records: records), to: socket)
            if records != nil && reply.hasPrefix("error:") {
                // A relay from before records: the announcement alone, as it knows it.
                reply = try LocalControl.send(.announce(hops: hops), to: socket)
            }
            if let announced = try? Announcement(json: reply) {
                logger.info("announced downstream as generation \(announced.generation), route \(announced.route)")
            } else {
                logger.info("filelistd relay: \(reply.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
        } catch {
            logger.warning("cannot notify the local filelistd: \(error)")
        }
    }
}

extension RunOptions {
    /// `-T DATE`: read by date(1), as the reference reads it, so every form it took
    /// ("yesterday", "2026-11-30 12:00") means the same here.
    public static func seconds(fromDate text: String) throws -> Int64 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["date", "-d", text, "+%s"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0,
            let seconds = Int64(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        else { throw SyncError("-T: '\(text)' is not a date date(1) understands") }
        return seconds
    }
}

/// An end of the run with a set status and, perhaps, nothing to say.
public struct SessionExit: Error, CustomStringConvertible {
    public var status: Int32
    public var message: String?
    public var description: String { message ?? "exit status \(status)" }
}

#if canImport(Glibc)
    import Glibc
#endif
