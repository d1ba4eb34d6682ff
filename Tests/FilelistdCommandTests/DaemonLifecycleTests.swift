import FileList
import Foundation
import Testing
import TreeFixtures

#if canImport(Glibc)
    import Glibc
#endif

@Suite("filelistd as a service: overflow, crashes, bad input, systemd", .ownThread)
struct DaemonLifecycleTests {
    /// inotify's queue holds `fs.inotify.max_queued_events` (16,384 here) and overflows;
    /// fanotify's is unlimited (`FAN_UNLIMITED_QUEUE`) and takes the whole burst.
    @Test(
        "a burst of 10,000 files while the daemon is stopped: inotify overflows into a logged, counted, correct rescan; fanotify queues it all",
        arguments: ["inotify", "fanotify"])
    func overflow(events: String) throws {
        let tree = try TemporaryTree("overflow")
        // Existing (watched) directories: files created in new ones raise no inotify event.
        for directory in 0..<20 { try tree.directory("burst/\(directory)") }
        let daemon = try DaemonProcess(root: tree.root, arguments: ["--events", events, "--settle", "0.2"])
        defer { daemon.stop() }
        try expectConverges(tree, daemon, "before the burst")
        // Stopped, the daemon cannot drain its queue: 20,000 events (a create and a close
        // per file) are more than inotify's queue of 16,384.
        kill(daemon.process.processIdentifier, SIGSTOP)
        for directory in 0..<20 {
            for file in 0..<500 { try tree.file("burst/\(directory)/f\(file)", "") }
        }
        kill(daemon.process.processIdentifier, SIGCONT)
        try expectConverges(tree, daemon, "after the burst")
        let status = try daemon.control("status")
        if events == "inotify" {
            #expect(daemon.log.contains("event queue overflowed"))
            #expect(status.contains("overflows: 1") || status.contains("overflows: 2"), "\(status)")
        } else {
            #expect(!daemon.log.contains("event queue overflowed"), "\(daemon.log)")
            #expect(status.contains("overflows: 0") && status.contains("rescans: 0"), "\(status)")
        }
    }

    @Test("SIGKILL while publishing never leaves a partial list")
    func killWhilePublishing() throws {
        let tree = try TemporaryTree("daemon-crash")
        for directory in 0..<30 {
            for file in 0..<200 { try tree.file("d\(directory)/package-\(file)-1.0-1.fc40.noarch.rpm", "") }
        }
        var random = SeededRandom(seed: 7)
        for round in 0..<12 {
            let daemon = try DaemonProcess(root: tree.root, arguments: ["--settle", "0"])
            // Keep the tree changing so the daemon keeps publishing, then kill it.
            for file in 0..<Int(random.next() % 40) { try tree.file("churn/r\(round)-\(file)", "") }
            usleep(useconds_t(random.next() % 150_000))
            kill(daemon.process.processIdentifier, SIGKILL)
            daemon.process.waitUntilExit()
            if let list = publishedList(tree) {
                #expect(throws: Never.self, "round \(round): the list is complete") { try FileListReader.parse(list) }
            }
            let leftovers = try tree.names().filter { $0.hasPrefix(".fullfiletimelist.tmp-") }
            #expect(leftovers.count <= 1, "round \(round): \(leftovers)")
        }
    }

    @Test("the root removed: exit non-zero with a message naming it", arguments: ["inotify", "fanotify"])
    func rootRemoved(events: String) throws {
        let parent = try TemporaryTree("root-removed")
        try parent.file("tree/a/f", "x")
        let root = parent.path("tree")
        let daemon = try DaemonProcess(root: root, arguments: ["--events", events, "--settle", "0.1"])
        #expect(DaemonProcess.wait { FileManager.default.fileExists(atPath: root + "/fullfiletimelist") })
        try FileManager.default.removeItem(atPath: root)
        #expect(DaemonProcess.wait { !daemon.process.isRunning })
        #expect(daemon.process.terminationStatus != 0)
        #expect(daemon.log.contains("was removed"))
        #expect(daemon.log.contains(root))
    }

    @Test("--audit-interval runs verification scans on its own and logs what they found")
    func audit() throws {
        let tree = try TemporaryTree("audit")
        try tree.file("a", "")
        let daemon = try DaemonProcess(root: tree.root, arguments: ["--audit-interval", "0.3"])
        defer { daemon.stop() }
        #expect(DaemonProcess.wait { daemon.log.components(separatedBy: "audit scan started").count > 2 })
        #expect(daemon.log.contains("rescan found no drift"))
        #expect(try daemon.control("status").contains("rescans: "))
    }

    @Test("a missing directory fails at start with one line naming it, and leaves nothing behind")
    func missingDirectory() throws {
        let run = try TemporaryTree("run")
        let result = try Command.run("filelistd", ["--dir", "/nonexistent/tree", "--runtime-directory", run.root])
        #expect(result.status != 0)
        #expect(result.stderrLines.count == 1, "\(result.stderr)")
        #expect(result.stderr.contains("/nonexistent/tree"))
        let left = try run.names()
        #expect(left.isEmpty, "left in the runtime directory: \(left)")
    }

    @Test(
        "a second daemon on the same tree is refused by the tree's lock, whatever its runtime directory",
        arguments: [false, true])
    func secondDaemon(ownRuntimeDirectory: Bool) throws {
        let tree = try TemporaryTree("lock")
        let first = try DaemonProcess(root: tree.root)
        defer { first.stop() }
        #expect(DaemonProcess.wait { publishedList(tree) != nil })
        let otherRuntime = try TemporaryTree("run-second")
        let second = try Command.run(
            "filelistd",
            [
                "--dir", tree.root, "--runtime-directory",
                ownRuntimeDirectory ? otherRuntime.root : first.runtimeDirectory.root,
            ])
        #expect(second.status != 0)
        #expect(second.stderrLines.count == 1, "\(second.stderr)")
        #expect(second.stderr.contains("already watching"), "\(second.stderr)")
        #expect(second.stderr.contains("pid \(first.process.processIdentifier)"), "\(second.stderr)")
        #expect(try otherRuntime.names().isEmpty)
        #expect(first.process.isRunning)
        #expect(try first.control("status").contains("generation: 1"))
    }

    @Test("modules: a second daemon on the same top directory is refused, naming the first one's pid")
    func secondDaemonOnModules() throws {
        let top = try TemporaryTree("lock-modules")
        try top.file("a/file", "x")
        let config = try TemporaryTree("lock-config")
        let configFile = try config.file("pub.conf", "top = \(top.root)\nmodules = a\n")
        let first = try DaemonProcess(root: top.root, configFile: configFile)
        defer { first.stop() }
        #expect(DaemonProcess.wait { (try? top.read("a/fullfiletimelist-a")) != nil })
        let otherRuntime = try TemporaryTree("run-second")
        let second = try Command.run(
            "filelistd", ["--config", configFile, "--runtime-directory", otherRuntime.root])
        #expect(second.status != 0)
        #expect(second.stderr.contains("pid \(first.process.processIdentifier)"), "\(second.stderr)")
    }

    @Test("--help shows the daemon's options as well as the subcommands")
    func help() throws {
        for flag in ["--help", "-h"] {
            let result = try Command.run("filelistd", [flag])
            let text = String(decoding: result.stdout, as: UTF8.self)
            #expect(result.status == 0)
            for option in ["--dir", "--config", "--events", "--settle", "--max-delay", "--http", "--runtime-directory"]
            {
                #expect(text.contains(option), "\(flag) does not mention \(option):\n\(text)")
            }
            for subcommand in ["rescan", "status", "relay"] { #expect(text.contains(subcommand)) }
        }
    }

    @Test("status with another runtime directory names the running daemon and the directory to pass")
    func statusWithAnotherRuntimeDirectory() throws {
        let tree = try TemporaryTree("status-hint")
        let daemon = try DaemonProcess(root: tree.root)
        defer { daemon.stop() }
        #expect(DaemonProcess.wait { publishedList(tree) != nil })
        let wrong = try TemporaryTree("run-wrong")
        for command in ["status", "rescan"] {
            let result = try Command.run(
                "filelistd", [command, "--dir", tree.root, "--runtime-directory", wrong.root])
            #expect(result.status != 0)
            #expect(result.stderrLines.count == 1, "\(result.stderr)")
            #expect(result.stderr.contains("pid \(daemon.process.processIdentifier)"), "\(result.stderr)")
            #expect(
                result.stderr.contains("--runtime-directory \(daemon.runtimeDirectory.root)"), "\(result.stderr)")
        }
        daemon.stop()
        let none = try Command.run("filelistd", ["status", "--dir", tree.root, "--runtime-directory", wrong.root])
        #expect(none.status != 0)
        #expect(none.stderr.contains("no filelistd is watching '\(tree.root)'"), "\(none.stderr)")
        #expect(none.stderr.contains(wrong.root), "\(none.stderr)")
    }

    @Test("nothing but the list is left in the tree: lock and socket live in the runtime directory")
    func treeStaysClean() throws {
        let tree = try TemporaryTree("clean")
        try tree.file("a", "")
        let daemon = try DaemonProcess(root: tree.root, arguments: ["--settle", "0.1"])
        #expect(DaemonProcess.wait { publishedList(tree) != nil })
        try tree.file("b", "")
        try expectConverges(tree, daemon, "after a change")
        #expect(try tree.names() == ["a", "b", "fullfiletimelist"])
        #expect(try daemon.runtimeDirectory.names().contains { $0.hasSuffix(".sock") })
        daemon.stop()
        #expect(try tree.names() == ["a", "b", "fullfiletimelist"])
    }

    @Test("a publish that fails (disk full) keeps the old list, logs, and retries")
    func diskFull() throws {
        let tree = try TemporaryTree("diskfull")
        try tree.file("a", "")
        let small = try TemporaryTree("tmpfs")
        let mounted = Command.runShell("mount -t tmpfs -o size=64k quickmirror-test \(small.root)")
        try #require(mounted == 0, "mounting a small tmpfs needs CAP_SYS_ADMIN")
        defer { _ = Command.runShell("umount \(small.root)") }
        let target = small.path("fullfiletimelist")
        let daemon = try DaemonProcess(root: tree.root, arguments: ["--settle", "0.1", "-t", target])
        defer { daemon.stop() }
        #expect(DaemonProcess.wait { FileManager.default.fileExists(atPath: target) })
        let old = try small.read("fullfiletimelist")
        // About 100 KB of list: more than the file system holds.
        for file in 0..<1500 { try tree.file("many/a-rather-long-package-name-\(file)-1.0-1.fc40.x86_64.rpm", "") }
        #expect(DaemonProcess.wait { daemon.log.contains("cannot publish the list") })
        #expect(try small.read("fullfiletimelist") == old)
        try FileManager.default.removeItem(atPath: tree.path("many"))
        try tree.file("b", "")
        #expect(
            DaemonProcess.wait {
                (try? small.read("fullfiletimelist")).map { String(decoding: $0, as: UTF8.self).contains("\tb\n") }
                    ?? false
            })
        #expect(daemon.process.isRunning)
    }
}
