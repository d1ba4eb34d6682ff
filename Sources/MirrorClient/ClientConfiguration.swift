/// What `quick-mirror` syncs, from where, and how: the keys of quick-fedora-mirror.conf.
public struct ClientConfiguration: Sendable, Equatable {
    /// The local mirror root.
    public var destination = ""
    /// Where the start time of the last successful run is kept.
    public var timeFile: String?
    /// `rsync://host`, or a local directory (tests, and tiers on the same machine).
    public var remote = ""
    /// Where the lists come from when not from `remote`: `http(s)://` (a filelistd: deltas,
    /// ETags and the /events stream), `rsync://`, or a local directory. Module directories
    /// are below it, as in the master module.
    public var listSource: String?
    /// The runtime directory of the local `filelistd relay` serving `destination`, told
    /// after each sync that installed new lists.
    public var notifyFilelistd: String?
    /// The upstream rsync module holding every module's directory.
    public var masterModule = ""
    public var modules: [String] = []
    /// Module name -> its directory in the master module (and below `destination`).
    public var moduleMapping: [String: String] = [:]
    /// The list's file name in each module directory; `$mdir` is the module directory.
    public var fileList = "fullfiletimelist-$mdir"
    public var extraFiles: [String] = []
    /// Paths matching this regular expression are neither transferred nor deleted.
    public var filterExpression: String?
    /// Mirror restricted content (`-` and `*` types) too.
    public var preBitflip = false
    public var rsyncOptions: [String] = []
    public var rsyncTimeout = 600
    public var maxRetries = 3
    public var verbose = 0
    public var logFile: String?
    public var logJournal = false
    public var keepDirectoryTimes = false

    public init() {}

    /// The directory of a module: its mapping, or its own name.
    public func directory(of module: String) -> String { moduleMapping[module] ?? module }

    public func fileListName(of module: String) -> String {
        fileList.replacingOccurrences(of: "$mdir", with: directory(of: module))
            .replacingOccurrences(of: "${mdir}", with: directory(of: module))
    }

    /// The lists' HTTP base, when they come over HTTP.
    public var httpListSource: String? {
        guard let source = listSource, source.hasPrefix("http://") || source.hasPrefix("https://") else { return nil }
        return source.hasSuffix("/") ? String(source.dropLast()) : source
    }

    public var effectiveTimeFile: String { timeFile ?? "\(destination)/.quick-mirror-last-run" }
}
