import Foundation
import Testing
import TreeFixtures

/// filelistd without the capability for fanotify, past the inotify watch limit. The limit
/// is set for real: `unshare -U -r` makes a user namespace whose root may write
/// `/proc/sys/user/max_inotify_watches` (a per-namespace limit that binds every
/// namespace below it), and filelistd runs as uid 1000 in a namespace nested in it, so
/// it has no privilege and cannot raise the limit itself.
@Suite("filelistd never runs blind past the inotify watch limit", .ownThread)
struct InotifyLimitTests {
    static let limit = 20

    /// Starts filelistd under the limit in `run`; returns the process and its log file.
    static func start(_ tree: TemporaryTree, _ run: TemporaryTree, events: String) throws -> (Process, String) {
        let log = run.path("filelistd.log")
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let filelistd = Command.executable("filelistd").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        process.arguments = [
            "-U", "-r", "sh", "-c",
            "echo \(limit) > /proc/sys/user/max_inotify_watches && exec unshare -U --map-user=1000 --map-group=1000 "
                + "\"$0\" --dir \"$1\" --runtime-directory \"$2\" --events \"$3\" --settle 0.2",
            filelistd, tree.root, run.root, events,
        ]
        process.environment = ProcessInfo.processInfo.environment.filter { $0.key != "NOTIFY_SOCKET" }
        let handle = FileHandle(forWritingAtPath: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return (process, log)
    }

    static func finished(_ process: Process) -> Bool {
        DaemonProcess.wait(timeout: .seconds(30)) { !process.isRunning }
    }

    @Test(
        "more directories than the limit at start: stop before publishing, naming the sysctl",
        arguments: ["inotify", "auto"])
    func tooManyAtStart(events: String) throws {
        let tree = try TemporaryTree("limit")
        for index in 0..<(Self.limit * 2) { try tree.file("d\(index)/f", "x") }
        let run = try TemporaryTree("limit-run")
        let (process, log) = try Self.start(tree, run, events: events)
        defer { if process.isRunning { process.terminate() } }
        #expect(
            Self.finished(process), "filelistd still runs with \(Self.limit * 2) directories and \(Self.limit) watches")
        #expect(process.terminationStatus != 0)
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(text.contains("fs.inotify.max_user_watches"), "\(text)")
        #expect(text.contains("cannot watch every directory"), "\(text)")
        if events == "auto" { #expect(text.contains("fanotify refused"), "\(text)") }
        // Never a list that could be missing changes.
        #expect(publishedList(tree) == nil)
    }

    @Test("directories created later push it past the limit: stop, naming the sysctl")
    func tooManyLater() throws {
        let tree = try TemporaryTree("limit-later")
        for index in 0..<(Self.limit / 2) { try tree.file("d\(index)/f", "x") }
        let run = try TemporaryTree("limit-run")
        let (process, log) = try Self.start(tree, run, events: "inotify")
        defer { if process.isRunning { process.terminate() } }
        #expect(DaemonProcess.wait { publishedList(tree) != nil }, "no list under the limit")
        for index in 0..<Self.limit { try tree.file("new/n\(index)/f", "x") }
        #expect(Self.finished(process), "filelistd still runs with watches missing")
        #expect(process.terminationStatus != 0)
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(text.contains("fs.inotify.max_user_watches"), "\(text)")
    }
}
