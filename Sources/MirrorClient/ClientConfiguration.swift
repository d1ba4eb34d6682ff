/// What `quick-mirror` syncs, from where, and how: the keys of quick-fedora-mirror.conf,
/// with the reference client's defaults (its `set_default_vars`), so that a configuration
/// written for it means here what it meant there.
public struct ClientConfiguration: Sendable, Equatable {
    /// The local mirror root.
    public var destination = ""
    /// Where the start time of the last successful run is kept (`LASTTIME=...`, as the
    /// reference writes it).
    public var timeFile: String?
    /// `rsync://host`, or a local directory (tests, and tiers on the same machine).
    public var remote = "rsync://dl.fedoraproject.org"
    /// Where the lists come from when not from `remote`: `http(s)://` (a filelistd: deltas,
    /// ETags and the /events stream), `rsync://`, or a local directory. Module directories
    /// are below it, as in the master module.
    public var listSource: String?
    /// The runtime directory of the local `filelistd relay` serving `destination`, told
    /// after each sync that installed new lists.
    public var notifyFilelistd: String?
    /// Where each run's figures go, for node_exporter's textfile collector (a `*.prom`
    /// file in its directory).
    public var metricsFile: String?
    /// Where each successful run says what the mirror holds (origin generation, its
    /// publish time, the run's time), for `quick-mirror status` and people: a file the
    /// mirror serves, like Debian's `project/trace/HOST`.
    public var traceFile: String?
    /// The upstream rsync module holding every module's directory.
    public var masterModule = "fedora-buffet"
    public var modules = ["fedora-enchilada", "fedora-epel"]
    /// MIRRORBUFFET: every module of MODULEMAPPING, whatever MODULES says.
    public var mirrorBuffet = false
    /// Module name -> its directory in the master module (and below `destination`).
    public var moduleMapping = ClientConfiguration.defaultModuleMapping
    /// The list's file name in each module directory; `$mdir` is the module directory.
    public var fileList = "fullfiletimelist-$mdir"
    /// Files of each module that no list describes, fetched whenever the module changed
    /// and never deleted; `$mdir` is the module directory.
    public var extraFiles = ["fullfilelist", "imagelist-$mdir"]
    /// Paths matching this (extended) regular expression are neither transferred nor deleted.
    public var filterExpression: String?
    /// Mirror restricted content (`-` and `*` types) too.
    public var preBitflip = false
    public var rsyncExecutable = "/usr/bin/rsync"
    /// RSYNCOPTS: added after quick-mirror's own options.
    public var rsyncOptions: [String] = []
    /// Variables the file exports (`export RSYNC_PASSWORD=...`, `export RSYNC_PROXY=...`):
    /// the reference sources it in the shell that runs rsync, so rsync sees them.
    public var exported: [String: String] = [:]
    public var rsyncTimeout = 600
    /// Attempts of an rsync call (the reference's meaning: 1 or less means one attempt).
    public var maxRetries = 10
    public var verbose = 0
    public var logFile: String?
    /// Which items go to LOGFILE or the journal (the reference's letters; `@` is all).
    public var logItems = "aeElrR"
    public var logJournal = false
    public var keepDirectoryTimes = false
    /// Seconds after which a missed run is worth a warning.
    public var warnDelay = 86_400
    public var checkin = MirrorManagerCheckin.Settings()

    public static let defaultModuleMapping = [
        "fedora-alt": "alt", "fedora-archive": "archive", "fedora-enchilada": "fedora", "fedora-epel": "epel",
        "fedora-secondary": "fedora-secondary",
    ]

    public init() {}

    /// The modules a run syncs: MODULES, or with MIRRORBUFFET every mapped module.
    public var effectiveModules: [String] { mirrorBuffet ? moduleMapping.keys.sorted() : modules }

    /// The directory of a module: its mapping, or its own name.
    public func directory(of module: String) -> String { moduleMapping[module] ?? module }

    public func fileListName(of module: String) -> String { Self.substitute(fileList, directory(of: module)) }

    /// The module's extra files, relative to the master module.
    public func extraFilePaths(of module: String) -> [String] {
        extraFiles.filter { !$0.isEmpty }.map { "\(directory(of: module))/\(Self.substitute($0, directory(of: module)))" }
    }

    /// `$mdir` or `${mdir}` in a configured name becomes the module's directory.
    static func substitute(_ name: String, _ directory: String) -> String {
        name.replacingOccurrences(of: "${mdir}", with: directory).replacingOccurrences(of: "$mdir", with: directory)
    }

    /// The lists' HTTP base, when they come over HTTP.
    public var httpListSource: String? {
        guard let source = listSource, source.hasPrefix("http://") || source.hasPrefix("https://") else { return nil }
        return source.hasSuffix("/") ? String(source.dropLast()) : source
    }

    public var effectiveTimeFile: String { timeFile ?? "\(destination)/.quick-mirror-last-run" }
}
