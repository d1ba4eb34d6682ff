import Foundation
import LinuxCalls
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Finds the filelistd that holds a tree's lock, for an operator whose `status` or
/// `rescan` reached no daemon: most often the daemon runs with another runtime
/// directory (systemd's `RuntimeDirectory=`), and the fix is to pass the same one.
enum RunningDaemon {
    static func explainSilence(root: String, socket: String, runtimeDirectory: String, error: String) -> String {
        guard let pid = lockHolder(of: root) else {
            return "no filelistd is watching '\(root)' (nothing holds its lock; tried the control socket '\(socket)' "
                + "in the runtime directory '\(runtimeDirectory)'): start one, or check --dir/--config"
        }
        let theirs = Self.runtimeDirectory(of: pid)
        guard let theirs, theirs != runtimeDirectory else {
            return "filelistd pid \(pid) watches '\(root)' but does not answer on '\(socket)' (\(error))"
                + (theirs == nil ? ": pass the --runtime-directory it was started with" : "")
        }
        return
            "filelistd pid \(pid) watches '\(root)' with the runtime directory '\(theirs)', not '\(runtimeDirectory)': "
            + "pass --runtime-directory \(theirs)"
    }

    /// The pid holding the daemon's lock on the tree's top directory.
    static func lockHolder(of root: String) -> pid_t? {
        guard let directory = try? Linux.openat(nil, root, flags: O_RDONLY | O_DIRECTORY) else { return nil }
        defer { try? directory.close() }
        return FileLock.holder(of: directory)
    }

    /// The runtime directory a running filelistd was started with: its
    /// `--runtime-directory`, else its `RUNTIME_DIRECTORY`, else the default.
    static func runtimeDirectory(of pid: pid_t) -> String? {
        guard let arguments = nulSeparated("/proc/\(pid)/cmdline") else { return nil }
        for (position, argument) in arguments.enumerated() {
            if argument == "--runtime-directory", position + 1 < arguments.count { return arguments[position + 1] }
            if argument.hasPrefix("--runtime-directory=") { return String(argument.dropFirst(20)) }
        }
        // Only the process's owner (or root) may read its environment.
        if let environment = nulSeparated("/proc/\(pid)/environ") {
            for variable in environment where variable.hasPrefix("RUNTIME_DIRECTORY=") {
                return String(variable.dropFirst(18))
            }
            return DaemonConfiguration.builtInRuntimeDirectory
        }
        return nil
    }

    private static func nulSeparated(_ path: String) -> [String]? {
        guard let data = FileManager.default.contents(atPath: path), !data.isEmpty else { return nil }
        return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }
}
