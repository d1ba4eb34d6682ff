import Foundation
import Testing
import TreeFixtures

#if canImport(Glibc)
    import Glibc
#endif

/// A master module laid out as Fedora publishes one, served by a real rsync daemon on
/// 127.0.0.1, and an empty mirror with its state kept beside it: what the reference
/// client's configurations are tried against.
///
/// Each module directory carries what Fedora's publishing puts there: its
/// `fullfiletimelist-<dir>`, `fullfilelist` and `imagelist-<dir>`, all written by our
/// `create-filelist -t -f -i`. Files have the modes a group-writable publishing tree has
/// (0664 and 0644), times in the past, a symlink, a restricted-looking name or two, and
/// hard links within and across modules.
final class ReferenceMaster: @unchecked Sendable {
    let upstream: TemporaryTree
    let mirror: TemporaryTree
    let state: TemporaryTree
    let daemon: RsyncDaemon
    let directories: [String]

    /// `directories`: the module directories to create under the master module.
    init(masterModule: String = "master", directories: [String], filesPerDirectory: Int = 3) throws {
        upstream = try TemporaryTree("master")
        mirror = try TemporaryTree("mirror")
        state = try TemporaryTree("state")
        self.directories = directories
        for directory in directories { try Self.populate(upstream, directory, files: filesPerDirectory) }
        if directories.count > 1 {
            // A hard link across modules, as Fedora's hardlinked trees have.
            try upstream.hardLink(
                "\(directories[1])/shared/from-\(directories[0]).rpm", to: "\(directories[0])/releases/41/pkg-0.rpm")
        }
        daemon = try RsyncDaemon(module: masterModule, path: upstream.root)
        try publish()
    }

    static func populate(_ tree: TemporaryTree, _ directory: String, files: Int) throws {
        var stamp = 1_700_000_000
        for release in ["40", "41"] {
            for index in 0..<files {
                let path = "\(directory)/releases/\(release)/pkg-\(index).rpm"
                try tree.file(path, "\(directory) \(release) \(index)\n", mode: index % 2 == 0 ? 0o664 : 0o644)
                try Self.setTime(tree.path(path), stamp)
                stamp += 3600
            }
            for sub in ["dir1", "dir2", "dir2/dir2"] {
                try tree.file("\(directory)/releases/\(release)/\(sub)/file0", "fixed content", mode: 0o664)
                try tree.file("\(directory)/releases/\(release)/\(sub)/file1", "\(sub) one\n", mode: 0o664)
            }
            try tree.file("\(directory)/releases/\(release)/repodata/repomd.xml", "<repomd \(release)/>\n")
        }
        try tree.hardLink("\(directory)/releases/41/dir1/linked-file0", to: "\(directory)/releases/41/dir1/file0")
        try tree.symlink("\(directory)/releases/latest", to: "41")
    }

    static func setTime(_ path: String, _ seconds: Int) throws {
        var times = [timespec(tv_sec: seconds, tv_nsec: 0), timespec(tv_sec: seconds, tv_nsec: 0)]
        guard utimensat(AT_FDCWD, path, &times, AT_SYMLINK_NOFOLLOW) == 0 else { throw POSIXError(.EIO) }
    }

    /// Gives `target` the modification time of `source`, to the nanosecond.
    static func copyTime(from source: String, to target: String) throws {
        var info = stat()
        guard lstat(source, &info) == 0 else { throw POSIXError(.ENOENT) }
        var times = [info.st_atim, info.st_mtim]
        guard utimensat(AT_FDCWD, target, &times, AT_SYMLINK_NOFOLLOW) == 0 else { throw POSIXError(.EIO) }
    }

    /// Regenerates each module's three lists, as Fedora's publishing does after a change.
    func publish(_ only: [String]? = nil) throws {
        for directory in only ?? directories {
            let result = try Command.run(
                "create-filelist",
                [
                    "-d", upstream.path(directory), "-c", "-s", "-t",
                    upstream.path("\(directory)/fullfiletimelist-\(directory)"), "-f",
                    upstream.path("\(directory)/fullfilelist"), "-i", upstream.path("\(directory)/imagelist-\(directory)"),
                ])
            precondition(result.status == 0, result.stderr)
        }
    }

    /// Writes a configuration into the state directory and returns its path.
    func configuration(_ text: String, name: String = "qfm.conf") throws -> String {
        let path = state.path(name)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The lines every configuration here starts with.
    var basics: String {
        "DESTD=\(mirror.root)\nTIMEFILE=\(state.path("lastmirrortime"))\nREMOTE=\(daemon.url)\nMAXRETRIES=1\n"
    }

    /// Runs quick-mirror with `environment` added to ours.
    func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Command.Result {
        guard !environment.isEmpty else { return try Command.run("quick-mirror", arguments) }
        let assignments = environment.map { "\($0.key)=\($0.value)" }
        return try Command.run("/usr/bin/env", assignments + [Command.executable("quick-mirror").path] + arguments)
    }

    /// Every entry below `root` as the reference's tests compare trees
    /// (`find -printf '%T@ %m %P'`): time to the nanosecond, mode, path; directories only
    /// when asked (their times are kept only with KEEPDIRTIMES).
    static func listing(_ root: String, directories: Bool, excluding: [String] = []) -> [String] {
        let types = directories ? "\\( -type f -o -type l -o -type d \\)" : "\\( -type f -o -type l \\)"
        let exclusions = excluding.map { "-not -path '\($0)'" }.joined(separator: " ")
        let command = "cd '\(root)' && find . -mindepth 1 \(types) \(exclusions) -printf '%T@ %m %y %P\\n' | sort -k4"
        return Self.shellLines(command)
    }

    /// Paths that share an inode, grouped: the hard links of a tree.
    static func hardLinkGroups(_ root: String) -> [[String]] {
        let lines = Self.shellLines("cd '\(root)' && find . -type f -links +1 -printf '%i %P\\n'")
        var groups: [String: [String]] = [:]
        for line in lines {
            let parts = line.split(separator: " ", maxSplits: 1)
            groups[String(parts[0]), default: []].append(String(parts[1]))
        }
        return groups.values.map { $0.sorted() }.sorted { $0.joined() < $1.joined() }
    }

    static func shellLines(_ command: String) -> [String] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        let output = Pipe()
        process.standardOutput = output
        try? process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    /// The mirror equals the master (the modules given), as `find` sees both: files,
    /// symlinks, modes, times, hard links, and directory times when `directoryTimes`.
    func expectMirrorEqualsMaster(
        _ context: String, modules: [String]? = nil, directoryTimes: Bool = false, excluding: [String] = [],
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        for module in modules ?? directories {
            let master = Self.listing(upstream.path(module), directories: directoryTimes, excluding: excluding)
            let copy = Self.listing(mirror.path(module), directories: directoryTimes, excluding: excluding)
            #expect(!master.isEmpty, sourceLocation: sourceLocation)
            let missing = master.filter { !copy.contains($0) }.prefix(10)
            let extra = copy.filter { !master.contains($0) }.prefix(10)
            #expect(
                master == copy,
                "\(context), \(module): master only: \(missing.joined(separator: " | ")); mirror only: \(extra.joined(separator: " | "))",
                sourceLocation: sourceLocation)
        }
        #expect(
            Self.hardLinkGroups(upstream.root).filter { group in
                group.allSatisfy { path in (modules ?? directories).contains { path.hasPrefix($0 + "/") } }
            } == Self.hardLinkGroups(mirror.root), "\(context): hard links", sourceLocation: sourceLocation)
    }

    func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(mirror.path(path), &info) == 0
    }
}

