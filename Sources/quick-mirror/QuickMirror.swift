import ArgumentParser
import ChangeStream
import CommandLineSupport
import Foundation
import MirrorClient
import Synchronization
import Systemd

#if canImport(Glibc)
    import Glibc
#endif

@main
struct QuickMirror: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quick-mirror",
        abstract: "Keep a mirror in step with its upstream's file lists.",
        subcommands: [Sync.self, Follow.self],
        defaultSubcommand: Sync.self)

    static func main() { mainWithOneLineErrors() }
}

/// One sync, as cron runs it (the default).
struct Sync: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Sync a mirror from its upstream's file lists: fetch only what changed, delete what is gone.",
        discussion: """
            Reads quick-fedora-mirror.conf (shell-style KEY=value; nothing in it is executed). \
            Fetches each module's fullfiletimelist, and when one changed, hands rsync only the new and \
            changed paths (one rsync for all modules, so hard links between them stay links), verifies \
            the checksums the lists carry, deletes what upstream removed, and installs the new lists last. \
            A list that does not parse, or that would delete more than --max-delete-share of the mirror, \
            stops the run before anything changes.
            """)

    @OptionGroup var options: SyncOptions

    func run() throws {
        let session = try options.session()
        _ = try session.syncOnce()
    }
}

/// Keeps syncing: at once when the upstream filelistd announces a new generation on its
/// change stream, every --interval seconds otherwise (the fallback while the stream is
/// down, and a check that costs one conditional GET per list when it is up), and at once
/// again after a sync that changed something or during which a new generation appeared.
struct Follow: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sync, then keep syncing as upstream changes (SIGTERM or SIGINT ends it after the current run).",
        discussion: """
            With LISTSOURCE=http(s)://... (an upstream filelistd), follows its /events stream and syncs \
            within moments of a change; each announcement carries the chain of hops the change came \
            through, which -d 1 prints. With NOTIFYFILELISTD, the local `filelistd relay` is told after \
            each sync, so the next tier hears at once.
            """)

    @OptionGroup var options: SyncOptions

    @Option(help: "Seconds between checks of the upstream lists.") var interval: Double = 60

    func run() throws {
        let session = try options.session()
        // A parent may have started us with these blocked; a follower must hear them.
        var set = sigset_t()
        sigemptyset(&set)
        for signal in [SIGTERM, SIGINT] {
            Glibc.signal(signal) { _ in Follow.stopRequested.store(true, ordering: .relaxed) }
            sigaddset(&set, signal)
        }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        let events = session.sync.configuration.httpListSource.map {
            UpstreamEvents(url: "\($0)/events", log: session.log)
        }
        events?.start()
        var failures = 0
        while !Self.stopRequested.load(ordering: .relaxed) {
            let before = events?.latest
            do {
                let changed = try session.syncOnce(announcement: before?.announcement)
                failures = 0
                if changed { continue }
            } catch {
                // Logged by the run; a follower keeps going, backing off while upstream is unwell.
                failures += 1
                FileHandle.standardError.write(Data("quick-mirror: error: \(error)\n".utf8))
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

    static let stopRequested = Atomic<Bool>(false)
}

/// The options of a sync, shared by `sync` and `follow`.
struct SyncOptions: ParsableArguments {
    @Flag(
        name: [.customShort("a"), .customLong("alwayscheck")],
        help: "Compare with the local tree even when no list changed.")
    var alwaysCheck = false

    @Option(name: [.customShort("c"), .customLong("config")], help: "The configuration file.")
    var config: String?

    @Option(name: [.customShort("d")], help: "Verbosity: 0 quiet (the default under cron), 1 summary, 2 details.")
    var level: Int?

    @Flag(
        name: [.customShort("n"), .customLong("dry-run")],
        help: "Print what would be transferred and deleted; change nothing.")
    var dryRun = false

    @Flag(name: [.customShort("N"), .customLong("transfer-only")], help: "Transfer, but delete nothing.")
    var transferOnly = false

    @Option(name: [.customShort("t")], help: "Take this as the last successful run (seconds since the epoch).")
    var timestamp: Int64?

    @Option(
        name: [.customShort("T"), .customLong("backdate")], help: "Move the last run time back by this many seconds.")
    var backdate: Int64 = 0

    @Option(
        name: .customLong("set"), help: "Set a config key, e.g. --set DESTD=/srv/mirror (repeatable; for containers).")
    var settings: [String] = []

    @Option(help: "Refuse a run that would delete more than this share of the mirror.")
    var maxDeleteShare = 0.1

    @Flag(help: "Allow a run to delete more than --max-delete-share.")
    var allowMassDelete = false

    @Option(
        help: ArgumentHelp(
            "Run this shell command after a successful sync that changed something; QUICK_MIRROR_MODULES names the modules (MirrorManager check-ins, the next tier).",
            valueName: "command"))
    var hook: String?

    /// Reads the configuration and takes the destination's lock.
    func session() throws -> SyncSession {
        var parser = ShellConfigParser()
        var text = ""
        var file = "--set"
        if let path = config ?? Self.searchPath.first(where: { FileManager.default.fileExists(atPath: $0) }) {
            file = path
            guard let data = FileManager.default.contents(atPath: path) else {
                throw Failure("cannot read config '\(path)': \(String(cString: strerror(errno)))")
            }
            text = String(decoding: data, as: UTF8.self)
        } else if settings.isEmpty {
            throw ValidationError(
                "no config: give -c FILE or --set KEY=VALUE (searched \(Self.searchPath.joined(separator: ", ")))")
        }
        // Command-line settings come after the file, so they win.
        text += "\n" + settings.map { $0.replacingOccurrences(of: "\n", with: " ") }.joined(separator: "\n")
        let configuration: ClientConfiguration
        do {
            configuration = try parser.parse(text, file: file)
        } catch {
            throw Failure("\(error)")
        }
        let verbosity = level ?? configuration.verbose
        let logFile = configuration.logFile
        let journal = configuration.logJournal
        let log: @Sendable (String) -> Void = { message in
            SyncSession.write(message, to: logFile)
            if journal {
                Systemd.sendToJournal(["MESSAGE=\(message)", "PRIORITY=6", "SYSLOG_IDENTIFIER=quick-mirror"])
            }
            if verbosity >= 1 { FileHandle.standardError.write(Data("quick-mirror: \(message)\n".utf8)) }
        }
        for warning in parser.warnings {
            FileHandle.standardError.write(Data("quick-mirror: warning: \(warning)\n".utf8))
        }
        guard !configuration.destination.isEmpty else { throw Failure("DESTD is not set (in \(file))") }
        // A first run on a new mirror: the destination (where the lock lives) may not exist yet.
        let lockPath = configuration.effectiveTimeFile + ".lock"
        try? FileManager.default.createDirectory(
            atPath: (lockPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let lock = try RunLock(path: lockPath)
        var sync = MirrorSync(configuration: configuration, log: log)
        // On a terminal, with -d 1 or more, rsync shows how the transfer is going.
        sync.rsync.showsProgress = isatty(STDOUT_FILENO) == 1 && verbosity >= 1
        sync.alwaysCheck = alwaysCheck
        sync.dryRun = dryRun
        sync.noDeletions = transferOnly
        sync.since = timestamp
        sync.backdate = backdate
        sync.maxDeleteShare = maxDeleteShare
        sync.allowMassDelete = allowMassDelete
        return SyncSession(
            sync: sync, lock: lock, hook: hook, logFile: logFile, log: log, verbosity: verbosity,
            printsSummary: level != nil)
    }

    static let searchPath = [
        "\(NSHomeDirectory())/.config/quick-fedora-mirror.conf", "/etc/quick-fedora-mirror.conf",
        "./quick-fedora-mirror.conf",
    ]
}

/// A configured sync holding the destination's lock.
struct SyncSession {
    var sync: MirrorSync
    let lock: RunLock
    let hook: String?
    let logFile: String?
    let log: @Sendable (String) -> Void
    let verbosity: Int
    let printsSummary: Bool

    /// Runs once; returns whether anything changed upstream. `announcement` is the
    /// upstream's latest, when following its change stream: its hops are passed on.
    func syncOnce(announcement: Announcement? = nil) throws -> Bool {
        let configuration = sync.configuration
        let logFile = self.logFile
        if let last = try? String(contentsOfFile: configuration.effectiveTimeFile, encoding: .utf8),
            let seconds = Double(last.trimmingCharacters(in: .whitespacesAndNewlines)),
            Date().timeIntervalSince1970 - seconds > 86_400
        {
            log("warning: the last successful run was more than a day ago")
        }
        do {
            let summary = try sync.run()
            Self.write(summary.line, to: logFile)
            if sync.configuration.logJournal && !summary.changedModules.isEmpty {
                Systemd.sendToJournal(["MESSAGE=\(summary.line)", "PRIORITY=6", "SYSLOG_IDENTIFIER=quick-mirror"])
            }
            for (path, how) in summary.listFetches.sorted(by: { $0.key < $1.key }) where verbosity >= 2 {
                log("list \(path): \(how)")
            }
            if let announcement, !summary.changedModules.isEmpty {
                log("synced upstream generation \(announcement.generation), route \(announcement.route)")
            }
            if let runtime = configuration.notifyFilelistd, !summary.changedModules.isEmpty, !sync.dryRun {
                notify(runtime: runtime, hops: announcement?.hops ?? [])
            }
            if let hook, !summary.changedModules.isEmpty, !sync.dryRun {
                try Self.runHook(hook, modules: summary.changedModules, log: log)
            }
            if verbosity >= 1 || (!summary.changedModules.isEmpty && printsSummary) {
                print(summary.line)
            }
            return !summary.changedModules.isEmpty && !sync.dryRun
        } catch {
            Self.write("error: \(error)", to: logFile)
            if sync.configuration.logJournal {
                Systemd.sendToJournal(["MESSAGE=error: \(error)", "PRIORITY=3", "SYSLOG_IDENTIFIER=quick-mirror"])
            }
            throw Failure("\(error)")
        }
    }

    /// Tells the local relay that new lists are installed. Its failure does not fail the
    /// sync (the mirror is correct); the relay also re-reads its lists on SIGHUP.
    func notify(runtime: String, hops: [Hop]) {
        let socket = LocalControl.socketPath(
            root: LocalControl.absolutePath(sync.configuration.destination), runtimeDirectory: runtime)
        do {
            let reply = try LocalControl.send("announce \(Announcement.hopsJSON(hops))", to: socket)
            if let announced = try? Announcement(json: reply) {
                log("announced downstream as generation \(announced.generation), route \(announced.route)")
            } else {
                log("filelistd relay: \(reply.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
        } catch {
            Self.write("warning: cannot notify the local filelistd: \(error)", to: logFile)
            log("warning: cannot notify the local filelistd: \(error)")
        }
    }

    static func runHook(_ command: String, modules: [String], log: (String) -> Void) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.environment = ProcessInfo.processInfo.environment.merging(
            ["QUICK_MIRROR_MODULES": modules.joined(separator: " ")]) { $1 }
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(
                "the sync succeeded, but the hook '\(command)' failed with status \(process.terminationStatus)")
        }
        log("hook ran for \(modules.joined(separator: " "))")
    }

    static func write(_ line: String, to logFile: String?) {
        guard let logFile, let handle = FileHandle(forWritingAtPath: logFile) ?? Self.create(logFile) else { return }
        handle.seekToEndOfFile()
        let stamp = ISO8601DateFormatter().string(from: Date())
        handle.write(Data("\(stamp) \(line)\n".utf8))
        try? handle.close()
    }

    static func create(_ path: String) -> FileHandle? {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        return FileHandle(forWritingAtPath: path)
    }

}

typealias Failure = CommandFailure

/// One run per destination: a second one finds the lock held and stops.
final class RunLock {
    let fd: Int32
    init(path: String) throws {
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw Failure("cannot open lock '\(path)': \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw Failure("another quick-mirror run holds \(path)")
        }
    }
    deinit { close(fd) }
}
