import ArgumentParser
import CommandLineSupport
import Foundation
import MirrorClient

@main
struct QuickMirror: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quick-mirror",
        abstract: "Keep a mirror in step with its upstream's file lists (a drop-in for quick-fedora-mirror).",
        discussion: """
            quick-fedora-mirror's flags (-a -c -d -n -N -t -T --dir-times --checkin-only --refresh \
            --no-paranoia --dump-mm-checkin) belong to `sync`, the default: `quick-mirror -c FILE -d 1` \
            is `quick-mirror sync -c FILE -d 1`. `quick-mirror sync -h` describes each.
            """,
        subcommands: [Sync.self, Follow.self, Status.self],
        defaultSubcommand: Sync.self)

    static func main() {
        StandardStreams.ignoreBrokenPipes()
        mainWithOneLineErrors()
    }
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
            A list that does not parse, or a run that would delete more than --max-delete-share of the \
            mirror and more than --min-guarded-deletions entries, stops before anything changes.
            """)

    @OptionGroup var options: SyncOptions

    func run() throws {
        try SyncOptions.reporting { _ = try options.session().syncOnce() }
    }
}

/// Keeps syncing as upstream changes.
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
        try SyncOptions.reporting { FollowLoop(session: try options.session(), interval: interval).run() }
    }
}

/// How far behind each mirror is: a monitoring check (Nagios/Icinga exit codes), or JSON.
struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Say how far behind the first URL (the origin, usually) each mirror is.",
        discussion: """
            Each URL is a filelistd (origin or relay: its /status is asked), or the URL or path of a \
            mirror's TRACEFILE. The first is the reference. Prints one line per mirror: the origin \
            generation it holds, its lag in seconds and in generations, and its last install. The lag \
            is taken from the reference's own record of when the origin published each generation, \
            so the machines' clocks do not matter. Exit status: 0 when every mirror is within \
            --max-lag, 1 when one is behind by more (Nagios/Icinga WARNING), 2 when one cannot be \
            reached or answers something that is not a status (CRITICAL). Lines come worst first, so \
            the first line, the one a monitoring system shows, names the worst mirror.
            """)

    @Argument(help: ArgumentHelp("The reference, then the mirrors.", valueName: "url"))
    var urls: [String]

    @Option(help: "Seconds a mirror may be behind the reference before it counts as behind.")
    var maxLag: Double = 600

    @Option(help: "Seconds to wait for each answer.")
    var timeout: Double = 10

    @Flag(help: "Print the report as one JSON document instead of lines.")
    var json = false

    func validate() throws {
        guard !urls.isEmpty else { throw ValidationError("give the reference's URL, then the mirrors'") }
        guard maxLag.isFinite, maxLag >= 0 else { throw ValidationError("--max-lag must be >= 0") }
        guard timeout.isFinite, timeout > 0 else { throw ValidationError("--timeout must be > 0") }
    }

    func run() throws {
        let report = StatusCheck(maxLag: maxLag, timeout: timeout).run(urls)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            StandardStreams.printLine(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            for line in report.worstFirst { StandardStreams.printLine(line.text) }
        }
        Foundation.exit(report.status)
    }
}

/// The reference's flags, and quick-mirror's own; shared by `sync` and `follow`.
struct SyncOptions: ParsableArguments {
    @Flag(name: [.customShort("a"), .customLong("alwayscheck")], help: "Compare with the local tree even when no list changed.")
    var alwaysCheck = false

    @Option(name: [.customShort("c"), .customLong("config")], help: "The configuration file.")
    var config: String?

    @Option(name: .customShort("d"), help: "Verbosity (VERBOSE): 0 quiet, 1 the run, 2 its details.")
    var level: Int?

    @Flag(name: [.customShort("n"), .customLong("dry-run")], help: "Print what would be transferred and deleted; change nothing.")
    var dryRun = false

    @Flag(name: [.customShort("N"), .customLong("transfer-only")], help: "Transfer, but delete nothing and record nothing.")
    var transferOnly = false

    @Option(name: .customShort("t"), help: "Take this as the last successful run (seconds since the epoch); implies -a.")
    var timestamp: Int64?

    @Option(name: .customShort("T"), help: "Take this date (as date -d reads it) as the last successful run; implies -a.")
    var date: String?

    @Flag(name: .customLong("dir-times"), help: "Restore the time of every directory of a changed module.")
    var dirTimes = false

    @Flag(name: .customLong("checkin-only"), help: "Only check in with MirrorManager, from the installed lists.")
    var checkinOnly = false

    @Option(
        name: .customLong("refresh"),
        help: ArgumentHelp("Fetch again, comparing content, every listed path matching REGEX.", valueName: "REGEX"))
    var refresh: String?

    @Flag(name: .customLong("no-paranoia"), help: "Record the run's real start, not five seconds before it.")
    var noParanoia = false

    @Option(
        name: .customLong("dump-mm-checkin"),
        help: ArgumentHelp("Write each check-in request to FILE-<module> instead of sending it.", valueName: "FILE"))
    var dumpCheckin: String?

    @Option(
        name: .customLong("set"), help: "Set a config key, e.g. --set DESTD=/srv/mirror (repeatable; for containers).")
    var settings: [String] = []

    @Option(help: "Refuse a run that would delete more than this share of the mirror (and more than --min-guarded-deletions).")
    var maxDeleteShare = 0.1

    @Option(help: "A run deleting no more entries than this is never refused.")
    var minGuardedDeletions = 1000

    @Flag(help: "Allow a run to delete more than --max-delete-share.")
    var allowMassDelete = false

    @Option(
        help: ArgumentHelp(
            "Run this shell command after a successful sync that changed something; QUICK_MIRROR_MODULES names the modules.",
            valueName: "command"))
    var hook: String?

    func session() throws -> SyncSession {
        var options = RunOptions()
        options.configPath = config
        options.settings = settings
        options.verbosity = level
        options.alwaysCheck = alwaysCheck
        options.dryRun = dryRun
        options.transferOnly = transferOnly
        options.since = try timestamp ?? date.map(RunOptions.seconds(fromDate:))
        options.noParanoia = noParanoia
        options.allDirectoryTimes = dirTimes
        options.checkinOnly = checkinOnly
        options.refresh = refresh
        options.dumpCheckin = dumpCheckin
        options.hook = hook
        options.deletionGuard.maxShare = maxDeleteShare
        options.deletionGuard.minimumCount = minGuardedDeletions
        options.deletionGuard.disabled = allowMassDelete
        // Where the binary is, whatever the shell found it by (the reference's `dirname $0`).
        options.executableDirectory =
            URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().path
        return try SyncSession(options: options)
    }

    /// A run's failure as one line (written so that a closed standard error cannot trap),
    /// or a quiet exit with its status.
    static func reporting(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let exit as SessionExit {
            if let message = exit.message { StandardStreams.errorLine("quick-mirror: \(message)") }
            Foundation.exit(exit.status)
        } catch {
            StandardStreams.errorLine("quick-mirror: error: \(error)")
            Foundation.exit(1)
        }
    }
}
