import DaemonControl
import ArgumentParser
import ConnectionGuard
import LinuxCalls
import ListProtocol
import CommandLineSupport
import FileList
import ListDaemon
import Foundation
import ListService
import ListTransport
import Logging
import Monitoring
import Systemd
import TreeScan

@main
struct Filelistd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "filelistd",
        abstract: "Keep a tree's fullfiletimelist current from kernel events.",
        discussion: """
            Scans the tree once, then follows fanotify (or inotify) events and republishes the list (atomically, \
            and only when its bytes change) once the tree has been quiet for --settle seconds, or \
            every --max-delay seconds while it keeps changing. Run it in the foreground under systemd \
            (Type=notify); `systemctl reload` (SIGHUP) or `filelistd rescan` forces a verification scan. \
            With --http it also serves the lists (strong ETags), deltas (/changes) and a change stream \
            (/events) to downstream mirrors, and its figures (/metrics, Prometheus) and health (/healthz); \
            `filelistd relay` does that for a mirror that passes its upstream's lists on.
            """,
        subcommands: [Run.self, Relay.self, Rescan.self, Status.self],
        defaultSubcommand: Run.self)

    static func main() {
        // Before any thread exists, so that every thread inherits the mask.
        SignalReaderSetup.blockSignals()
        if ["--help", "-h", "help"].contains(CommandLine.arguments.dropFirst().first ?? "")
            && CommandLine.arguments.count == 2
        {
            print(DaemonHelp.text)
            return
        }
        mainWithOneLineErrors()
    }
}

struct TreeOptions: ParsableArguments {
    @Option(name: [.customLong("dir"), .customShort("d")], help: "The tree to watch and list.")
    var dir: String?

    @Option(
        help: ArgumentHelp(
            "A top directory and its modules, each listed as <module>/fullfiletimelist-<module> (see README).",
            valueName: "file"))
    var config: String?

    @Option(help: "Directory for the control socket (never inside the tree; the lock is on the tree itself).")
    var runtimeDirectory: String = DaemonConfiguration.defaultRuntimeDirectory

    func validate() throws {
        guard (dir == nil) != (config == nil) else { throw ValidationError("give either --dir or --config") }
    }

    func configuration() throws -> DaemonConfiguration {
        if let config {
            var configuration = try ConfigFile.load(path: config, runtimeDirectory: runtimeDirectory)
            configuration.root = Self.absolute(configuration.root)
            return configuration
        }
        var configuration = DaemonConfiguration(root: Self.absolute(dir ?? "."))
        configuration.runtimeDirectory = runtimeDirectory
        return configuration
    }

    static func absolute(_ path: String) -> String { LocalControl.absolutePath(path) }
}

/// Serving the lists to downstream mirrors, for `run` and `relay`.
struct HTTPOptions: ParsableArguments {
    /// The `--http` value that means the socket systemd passes (socket activation).
    static let systemdSockets = "systemd"

    @Option(
        help: ArgumentHelp(
            "Serve the lists, /changes, /events, /metrics and /healthz over HTTP on this address (e.g. 127.0.0.1:8080, [::]:8080; port 0 picks a free one), or on the listening socket systemd passes with 'systemd' (socket activation: filelistd-http@.socket). When systemd passes a socket (LISTEN_FDS) and --http is not given, filelistd serves on it too.",
            valueName: "host:port|systemd"))
    var http: String?

    @Option(help: "This server's name in the hops its announcements carry (default: the host name).")
    var name: String?

    @Option(
        help: ArgumentHelp(
            "Let these networks ask for a rescan of paths over HTTP (POST /rescan?path=P), for writers on other hosts (NFS clients); comma-separated CIDRs or addresses. Off by default: every other address gets 403.",
            valueName: "cidr,..."))
    var allowRescanFrom: String?

    @Option(
        help: ArgumentHelp(
            "Seconds a client has to send a request's whole head (from its first byte, or from connecting); then 408 and the connection is closed.",
            valueName: "seconds"))
    var headerTimeout: Double = 60

    @Option(
        help: ArgumentHelp(
            "Seconds a kept-alive connection may sit with nothing asked before it is closed (/events streams never count as idle).",
            valueName: "seconds"))
    var idleTimeout: Double = 75

    @Option(
        help: ArgumentHelp(
            "Seconds a response may go without a byte leaving (a client that stopped reading) before it is abandoned.",
            valueName: "seconds"))
    var sendTimeout: Double = 60

    @Option(
        help: ArgumentHelp(
            "Client connections held at once; more are answered 503. Default: 10000, or fewer if the open-file limit (raised to its hard limit at start) leaves fewer after a reserve for the daemon's own work.",
            valueName: "count"))
    var maxConnections: Int?

    @Option(
        help: ArgumentHelp(
            "/events streams held at once; more are answered 503. Default: 10000, at most --max-connections.",
            valueName: "count"))
    var maxSubscribers: Int?

    func validate() throws {
        if let http, http != Self.systemdSockets {
            do { _ = try ListServer.Configuration(listen: http) } catch {
                throw ValidationError("--http: \(error) (or 'systemd' for the socket systemd passes)")
            }
        }
        if let allowRescanFrom {
            do { _ = try AddressRanges(parsing: allowRescanFrom) } catch {
                throw ValidationError("--allow-rescan-from: \(error)")
            }
        }
        for (name, value) in [
            ("--header-timeout", headerTimeout), ("--idle-timeout", idleTimeout), ("--send-timeout", sendTimeout),
        ] where !(value > 0 && value <= 86400) {
            throw ValidationError("\(name) must be a number of seconds above 0 and at most 86400, not \(value)")
        }
        if let maxConnections, maxConnections < 1 { throw ValidationError("--max-connections must be 1 or more") }
        if let maxSubscribers, maxSubscribers < 0 { throw ValidationError("--max-subscribers must be 0 or more") }
    }

    /// The limits the HTTP side holds its clients to. The soft open-file limit is raised
    /// to the hard one first, and the connection cap sized from it: each connection may
    /// hold two descriptors (its socket and the list it is sent), and a reserve stays for
    /// scans, publishes and the control socket.
    func gate(logger: Logger) -> ConnectionGate {
        var requested = ServerLimits()
        requested.headerTimeout = .milliseconds(Int64(headerTimeout * 1000))
        requested.idleTimeout = .milliseconds(Int64(idleTimeout * 1000))
        requested.sendTimeout = .milliseconds(Int64(sendTimeout * 1000))
        if let maxConnections { requested.maxConnections = maxConnections }
        if let maxSubscribers { requested.maxSubscribers = maxSubscribers }
        let descriptors: OpenFileLimit
        do {
            descriptors = try Linux.raiseOpenFileLimit()
        } catch {
            logger.warning("cannot raise the open-file limit", metadata: ["error": "\(error)"])
            descriptors = (try? Linux.openFileLimit()) ?? OpenFileLimit(soft: 1024, hard: 1024)
        }
        let (limits, sizing, note) = ServerLimits.sized(
            descriptors: descriptors, inUse: Linux.openDescriptorCount() ?? 16, descriptorsPerConnection: 2,
            requested: requested, connectionsGiven: maxConnections != nil)
        if let note { logger.warning("\(note)") }
        // Said in the "serving HTTP" line: a server that cannot listen says one line only.
        return ConnectionGate(
            limits: limits, logger: logger,
            description:
                "open_files=\(sizing.descriptors) reserved=\(sizing.reserve) max_connections=\(limits.maxConnections) max_subscribers=\(limits.maxSubscribers)"
        )
    }

    /// `POST /rescan` for the networks --allow-rescan-from names, through `perform`.
    func rescan(_ perform: (@Sendable ([String]) async -> String)?) -> RemoteRescan? {
        guard let allowRescanFrom, let perform, let allowed = try? AddressRanges(parsing: allowRescanFrom) else {
            return nil
        }
        return RemoteRescan(allowed: allowed, perform: perform)
    }

    /// Whether the lists are served at all: --http, or sockets passed without it.
    var serves: Bool { http != nil || Systemd.socketsPassed }

    func catalog(lists: [String], logger: Logger, publisher: PublishHealth? = nil) -> ListCatalog {
        ListCatalog(lists: lists, host: name ?? ProcessInfo.processInfo.hostName, logger: logger, publisher: publisher)
    }

    /// When serving, the figures go to the registry /metrics renders; before the daemon
    /// and the server are made, as a metric is bound to the backend when it is made.
    /// Without it nothing is recorded.
    func bootstrapMetrics() {
        if serves { MetricsExport.bootstrap() }
    }

    /// Runs `loop` (the daemon's or the relay's) with the HTTP server beside it, when
    /// --http is given; SIGTERM ends the loop, then the change streams, then the server.
    func serve(
        _ catalog: @autoclosure () -> ListCatalog?, logger: Logger,
        rescan perform: (@Sendable ([String]) async -> String)? = nil, loop: () throws -> Void
    ) throws {
        guard serves, let catalog = catalog() else { return try loop() }
        let passed = try Systemd.takeListeningSockets()
        guard let http, http != Self.systemdSockets else {
            var configuration = ListServer.Configuration(host: "", port: 0)
            configuration.rescan = rescan(perform)
            configuration.gate = gate(logger: logger)
            try ListServing.run(
                catalog: catalog, configuration: configuration, inheritedSockets: try Self.checked(passed),
                logger: logger, loop: loop)
            return
        }
        if !passed.isEmpty {
            logger.warning(
                "systemd passed \(passed.count) socket(s), but --http \(http) binds its own; give --http systemd to serve on them"
            )
            for descriptor in passed { Linux.closeUnused(descriptor) }
        }
        var configuration = try ListServer.Configuration(listen: http)
        configuration.rescan = rescan(perform)
        configuration.gate = gate(logger: logger)
        try ListServing.run(catalog: catalog, configuration: configuration, logger: logger, loop: loop)
    }

    /// The passed sockets, if there are some and each is a listening TCP socket.
    static func checked(_ passed: [CInt]) throws -> [CInt] {
        guard !passed.isEmpty else {
            throw CommandFailure(
                "--http systemd: systemd passed no socket (LISTEN_FDS is not set for this process); start filelistd through its .socket unit (filelistd-http@.socket), or give --http HOST:PORT"
            )
        }
        for descriptor in passed where !Systemd.isListeningTCPSocket(descriptor) {
            throw CommandFailure(
                "--http systemd: descriptor \(descriptor) from systemd is not a listening TCP socket (the .socket unit needs ListenStream=[ADDRESS:]PORT)"
            )
        }
        return passed
    }
}

func makeLogger() -> Logger {
    LoggingSystem.bootstrap { label -> any LogHandler in
        Systemd.stderrIsJournal ? JournalLogHandler(label: label) : StreamLogHandler.standardError(label: label)
    }
    var logger = Logger(label: "filelistd")
    if ProcessInfo.processInfo.environment["FILELISTD_DEBUG"] != nil { logger.logLevel = .debug }
    return logger
}

extension Filelistd {
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run the daemon in the foreground (the default).")

        @OptionGroup var tree: TreeOptions
        @OptionGroup(title: "Serving downstream mirrors") var serving: HTTPOptions

        @Option(
            name: [.customShort("t"), .customLong("timelist")],
            help: "The time list; a bare name is written in the tree's top directory.")
        var timeList = "fullfiletimelist"

        @Option(name: [.customShort("f"), .customLong("filelist")], help: "Also keep a list of ./-prefixed paths.")
        var pathList: String?

        @Option(
            name: [.customShort("i"), .customLong("imagelist")],
            help: "Also keep a list of the image files' ./-prefixed paths (iso, qcow2, raw.xz, ...).")
        var imageList: String?

        @OptionGroup var scan: ScanFlags

        @Flag(
            name: [.customShort("s"), .customLong("skip")],
            help: "Accepted for create-filelist compatibility: the daemon never lists its own outputs.")
        var skipOutputs = false

        @Option(help: "The number written under [Version]: 2 or 3.")
        var listVersion = FileListFormat.defaultVersion

        @Option(help: "Kernel events to follow: auto, fanotify or inotify.")
        var events = "auto"

        @Option(help: "Publish once the tree has been quiet this many seconds.")
        var settle: Double = 2

        @Option(help: "Publish at least this often (seconds) while the tree keeps changing.")
        var maxDelay: Double = 60

        @Option(help: "Also verify the index with a full scan this often (seconds) and log any drift.")
        var auditInterval: Double?

        func validate() throws {
            guard EventBackend(rawValue: events) != nil else {
                throw ValidationError("--events must be auto, fanotify or inotify, not '\(events)'")
            }
            guard settle >= 0, maxDelay > 0, maxDelay >= settle else {
                throw ValidationError("--settle must be >= 0 and --max-delay > 0 and >= --settle")
            }
            for (name, value) in [
                ("--settle", settle), ("--max-delay", maxDelay), ("--audit-interval", auditInterval ?? 0),
            ]
            where !(value <= ConfigFile.maxSeconds) {
                throw ValidationError("\(name) must be at most \(Int(ConfigFile.maxSeconds)) seconds, not \(value)")
            }
            guard (2...3).contains(listVersion) else { throw ValidationError("--list-version must be 2 or 3") }
        }

        func run() throws {
            let logger = makeLogger()
            if tree.config != nil {
                // The config file holds the list options of a tree of modules.
                try run(try tree.configuration(), logger: logger)
                return
            }
            var configuration = try tree.configuration()
            configuration.timeList = timeList
            configuration.pathList = pathList
            configuration.imageList = imageList
            configuration.version = listVersion
            configuration.events = EventBackend(rawValue: events) ?? .auto
            configuration.settle = .milliseconds(Int64(settle * 1000))
            configuration.maxDelay = .milliseconds(Int64(maxDelay * 1000))
            configuration.auditInterval = auditInterval.map { .milliseconds(Int64($0 * 1000)) }
            configuration.options = scan.choices.applied()
            try run(configuration, logger: logger)
        }

        func run(_ configuration: DaemonConfiguration, logger: Logger) throws {
            serving.bootstrapMetrics()
            let daemon = Daemon(configuration: configuration, logger: logger)
            var catalog: ListCatalog?
            if serving.serves {
                let served = serving.catalog(
                    lists: configuration.servedLists.map(\.path), logger: logger, publisher: daemon.health)
                daemon.onPublish = { served.install($0) }
                catalog = served
            }
            var rescan: (@Sendable ([String]) async -> String)?
            if let inbox = daemon.inbox {
                rescan = { paths in await inbox.submit(.rescanPaths(paths)) }
            }
            try serving.serve(catalog, logger: logger, rescan: rescan) { try daemon.run() }
        }
    }

    struct Relay: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve lists that quick-mirror installs, and pass its announcements on (an intermediate tier).",
            discussion: """
                An intermediate mirror passes its upstream's lists on unchanged. quick-mirror, with \
                NOTIFYFILELISTD set to this relay's --runtime-directory, tells the relay after each sync; \
                the relay takes each new list's digest, segments and delta from quick-mirror's record of \
                it (reading a list only when no record describes it) and announces the new generation on \
                /events with the chain of hops it came through, plus its own. SIGHUP re-reads the lists too.
                """)

        @Option(
            name: [.customLong("dir"), .customShort("d")], help: "The mirror's top directory (quick-mirror's DESTD).")
        var dir: String

        @Option(name: .customLong("list"), help: "A list to serve, as a path below --dir (repeatable).")
        var lists: [String]

        @Option(help: "Directory for the control socket (never inside the tree; the lock is on the tree itself).")
        var runtimeDirectory: String = DaemonConfiguration.defaultRuntimeDirectory

        @Option(
            help: ArgumentHelp(
                "The upstream filelistd quick-mirror syncs from (its LISTSOURCE): the relay follows its /events to know of each new generation as the upstream announces it, so /status shows how far behind this tier is while a sync is pending.",
                valueName: "url"))
        var upstream: String?

        @OptionGroup(title: "Serving downstream mirrors") var serving: HTTPOptions

        func validate() throws {
            guard !lists.isEmpty else { throw ValidationError("give at least one --list") }
            if let upstream, !(upstream.hasPrefix("http://") || upstream.hasPrefix("https://")) {
                throw ValidationError("--upstream must be an http:// or https:// URL, not '\(upstream)'")
            }
            for list in lists where list.hasPrefix("/") || list.split(separator: "/").contains("..") {
                throw ValidationError("--list '\(list)' must be a path below --dir")
            }
            guard serving.serves else { throw ValidationError("a relay needs --http (or a socket from systemd)") }
        }

        func run() throws {
            let logger = makeLogger()
            serving.bootstrapMetrics()
            let root = TreeOptions.absolute(dir)
            let catalog = serving.catalog(lists: lists, logger: logger)
            let relay = ListDaemon.Relay(
                root: root, lists: lists, runtimeDirectory: runtimeDirectory, logger: logger,
                serve: { catalog.install($0, upstream: $1) },
                status: {
                    let announcement = catalog.announcement
                    let origin = catalog.originFigures
                    return """
                        root: \(root)
                        generation: \(announcement?.generation ?? 0)
                        route: \(announcement?.route ?? "none yet")
                        origin generation: \(origin.generation.map(String.init) ?? "unknown")
                        lag: \(String(format: "%.3f", origin.lag)) s
                        subscribers: \(catalog.subscriberCount)

                        """
                }
            )
            relay.announce([])
            // After the first announcement: an upstream announcement that names the lists
            // already installed (quick-mirror synced before the relay started) is held at once.
            var events: UpstreamEvents?
            if let upstream {
                let base = upstream.hasSuffix("/") ? String(upstream.dropLast()) : upstream
                let stream = UpstreamEvents(url: "\(base)/events", logger: logger) { catalog.heard($0) }
                catalog.follow(upstream: base) { stream.latest.connected }
                stream.start()
                events = stream
            }
            defer { events?.stop() }
            try serving.serve(catalog, logger: logger) { try relay.run() }
        }
    }

    struct Rescan: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Ask the running daemon to read the tree again, whole or below the paths given.",
            discussion: """
                With no PATH: a full verification scan, which prints the drift it found (0 is expected). \
                With PATHs (relative to --dir or the --config top directory, or absolute inside it): only \
                those subtrees are read again and what changed is published; for writers the daemon gets \
                no event from, such as NFS clients on other hosts (the push tool runs \
                `filelistd rescan --config F fedora/updates/40` when it is done). A path outside the tree \
                is refused and nothing is read.
                """)
        @OptionGroup var tree: TreeOptions
        @Argument(help: "Subtrees to read again (default: all of it, as a verification scan).")
        var paths: [String] = []
        func run() throws {
            let configuration = try tree.configuration()
            let command: ControlCommand = paths.isEmpty ? .rescan : .rescanPaths(paths)
            let reply = try Daemon.control(command, configuration: configuration)
            if reply.hasPrefix("error: ") {
                throw CommandFailure(String(reply.dropFirst("error: ".count).dropLast()))
            }
            print(reply, terminator: "")
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the running daemon's counters.")
        @OptionGroup var tree: TreeOptions
        func run() throws {
            print(try Daemon.control(.status, configuration: try tree.configuration()), terminator: "")
        }
    }
}
