import DaemonControl
import ListProtocol
import FileList
import Foundation
import Publish
import TreeScan

/// Which kernel interface reports changes.
public enum EventBackend: String, Sendable, CaseIterable {
    /// fanotify when the process may use it (CAP_SYS_ADMIN and a file system with an
    /// fsid), else inotify.
    case auto
    case fanotify
    case inotify
}

/// One published list: the whole `--dir`, or one module of a `--config` top directory.
public struct ListedTree: Sendable, Equatable {
    /// The module name, nil for a single tree.
    public var module: String?
    /// Absolute path of the tree the list describes.
    public var root: String
    public var timeListPath: String
    public var pathListPath: String?
    /// The `-i` list of image paths (`imagelist-MODULE`), if asked for.
    public var imageListPath: String?

    /// Every list the daemon writes for this tree; the time list last, as it is replaced last.
    public var outputs: [String] { [pathListPath, imageListPath, timeListPath].compactMap { $0 } }
}

/// Everything `filelistd` needs to watch one tree and publish its lists.
public struct DaemonConfiguration: Sendable {
    /// The watched directory (absolute): the tree itself, or the top directory of modules.
    public var root: String
    /// Modules below `root`, each published as `<module>/fullfiletimelist-<module>` as
    /// Fedora's wrapper does. Empty: `root` itself is the one listed tree.
    public var modules: [String] = []
    /// Modules that share hard links: the lists of a group are replaced together.
    public var linkedGroups: [[String]] = []
    /// The time list: a bare name lives in `root`.
    public var timeList = "fullfiletimelist"
    /// The `-f` list of `./`-prefixed paths, if asked for.
    public var pathList: String?
    /// The `-i` list of image paths, if asked for.
    public var imageList: String?
    /// With modules: also write `MODULE/fullfilelist` and `MODULE/imagelist-MODULE`, as
    /// Fedora's wrapper around create-filelist does. The reference client's default
    /// `EXTRAFILES=(fullfilelist imagelist-$mdir)` fetches both on every run and stops
    /// when one is missing.
    public var moduleFullFileList = true
    public var moduleImageList = true
    public var options = ScanOptions()
    public var version = FileListFormat.defaultVersion
    public var events = EventBackend.auto
    /// Publish once the tree has been quiet this long...
    public var settle: Duration = .seconds(2)
    /// ...or at least this often while it keeps changing.
    public var maxDelay: Duration = .seconds(60)
    /// Where the lock and the control socket live: never in the tree.
    public var runtimeDirectory = DaemonConfiguration.defaultRuntimeDirectory
    /// Run a verification scan this often and log any drift.
    public var auditInterval: Duration?

    public init(root: String) {
        self.root = root
        options.keepUnlistedSymlinks = true
        options.keepHiddenEntries = true
    }

    /// systemd's `RuntimeDirectory=` sets `RUNTIME_DIRECTORY`.
    public static var defaultRuntimeDirectory: String {
        if let directory = getenv("RUNTIME_DIRECTORY") { return String(cString: directory) }
        return builtInRuntimeDirectory
    }

    static let builtInRuntimeDirectory = "/run/filelistd"

    func resolve(_ output: String) -> String {
        output.hasPrefix("/") ? output : "\(root)/\(output)"
    }

    /// The lists to keep, one per module (or one for the tree).
    public var listedTrees: [ListedTree] {
        guard !modules.isEmpty else {
            return [
                ListedTree(
                    module: nil, root: root, timeListPath: resolve(timeList), pathListPath: pathList.map(resolve),
                    imageListPath: imageList.map(resolve))
            ]
        }
        return modules.map { module in
            ListedTree(
                module: module, root: "\(root)/\(module)",
                timeListPath: "\(root)/\(module)/fullfiletimelist-\(module)",
                pathListPath: moduleFullFileList ? "\(root)/\(module)/fullfilelist" : nil,
                imageListPath: moduleImageList ? "\(root)/\(module)/imagelist-\(module)" : nil)
        }
    }

    /// The published lists, each with the URL path HTTP clients ask for: its path below
    /// `root`, or its file name when it is written outside the tree.
    public var servedLists: [(path: String, file: String)] {
        var files: [String] = []
        for tree in listedTrees {
            files.append(tree.timeListPath)
            if let pathList = tree.pathListPath { files.append(pathList) }
            if let imageList = tree.imageListPath { files.append(imageList) }
        }
        let prefix = root.hasSuffix("/") ? root : root + "/"
        return files.map { file in
            (file.hasPrefix(prefix) ? String(file.dropFirst(prefix.count)) : (file as NSString).lastPathComponent, file)
        }
    }

    /// The daemon's own outputs, and their temporary files, are never listed.
    func scanOptions(for tree: ListedTree) -> ScanOptions {
        var options = self.options
        options.keepUnlistedSymlinks = true
        options.keepHiddenEntries = true
        for output in tree.outputs {
            let slash = output.lastIndex(of: "/")!
            guard String(output[..<slash]) == tree.root else { continue }
            let name = String(output[output.index(after: slash)...])
            options.topLevelSkips.insert(Array(name.utf8))
            options.topLevelSkipPrefixes.append(Array(AtomicFile.temporaryNamePrefix(for: name).utf8))
        }
        return options
    }

    var runtimeKey: String { LocalControl.runtimeKey(root: root, runtimeDirectory: runtimeDirectory) }

    public var controlSocketPath: String { "\(runtimeDirectory)/\(runtimeKey).sock" }
}

#if canImport(Glibc)
    import Glibc
#endif
