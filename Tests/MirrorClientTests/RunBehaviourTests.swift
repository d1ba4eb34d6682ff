import Foundation
import Testing
import TreeFixtures

#if canImport(Glibc)
    import Glibc
#endif

/// The deletion guard, the output streams and the reference's flags, each with the
/// real binary against a real rsync daemon.
@Suite("quick-mirror runs: the deletion guard, output, and the reference's flags", .ownThread)
struct RunBehaviourTests {
    static func singleModule(_ master: ReferenceMaster, extra: String = "") throws -> String {
        try master.configuration(
            master.basics + "MASTERMODULE=master\nMODULES=(module-a)\nMODULEMAPPING=(module-a module-a)\n" + extra)
    }

    @Test("a small module may delete a fifth of itself; a large tree losing half is refused, and nothing is deleted")
    func deletionGuard() throws {
        // ~640 entries; dropping release 40 deletes ~320 of them (50%, but fewer than 1,000).
        let small = try ReferenceMaster(directories: ["module-a"], filesPerDirectory: 310)
        let smallConfig = try Self.singleModule(small)
        #expect(try small.run(["-c", smallConfig]).status == 0)
        try small.upstream.remove("module-a/releases/40")
        try small.publish()
        let allowed = try small.run(["-c", smallConfig])
        #expect(allowed.status == 0, "\(allowed.stderr)")
        small.expectMirrorEqualsMaster("after a small module's large share of deletions")

        // ~2,230 entries; dropping release 40 deletes ~1,110 (50%, more than 1,000).
        let large = try ReferenceMaster(directories: ["module-a"], filesPerDirectory: 1100)
        let largeConfig = try Self.singleModule(large)
        #expect(try large.run(["-c", largeConfig]).status == 0)
        try large.upstream.remove("module-a/releases/40")
        try large.publish()
        let refused = try large.run(["-c", largeConfig])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("refusing to delete"), "\(refused.stderr)")
        #expect(large.exists("module-a/releases/40/pkg-1099.rpm"), "nothing deleted")
        let forced = try large.run(["-c", largeConfig, "--allow-mass-delete"])
        #expect(forced.status == 0, "\(forced.stderr)")
        large.expectMirrorEqualsMaster("after an allowed mass deletion")
    }

    @Test("-d 0: a successful run that changed things prints nothing at all, on either stream")
    func quietRun() throws {
        let master = try ReferenceMaster(directories: ["module-a"])
        let config = try Self.singleModule(master, extra: "VERBOSE=1\n")
        let result = try master.run(["-c", config, "-d", "0"])
        #expect(result.status == 0)
        #expect(result.stdout.isEmpty && result.stderr.isEmpty, "\(result.stderr)")
        let verbose = try master.run(["-c", config, "-a"])
        #expect(String(decoding: verbose.stdout, as: UTF8.self).contains("synced module-a"), "VERBOSE=1 without -d")
    }

    @Test("a reader that goes away (| head -1, | true) never crashes a run, lists over HTTP or rsync")
    func closedPipe() throws {
        let master = try ReferenceMaster(directories: ["module-a"])
        let config = try Self.singleModule(master)
        let (server, base) = try TierTests.webServer(
            ["-u", "-m", "http.server", "--bind", "127.0.0.1", "--directory", master.upstream.root, "0"],
            log: master.state.path("http.log"))
        defer { TierTests.stop(server) }
        let executable = Command.executable("quick-mirror").path
        for (listSource, reader) in [("LISTSOURCE=\(base)", "head -1"), ("LISTSOURCE=\(base)", "true"), ("VERBOSE=0", "true")] {
            for _ in 0..<3 {
                let line =
                    "'\(executable)' -n -d 2 -c '\(config)' --set '\(listSource)' 2>&1 | \(reader); echo \"status ${PIPESTATUS[0]}\""
                let output = ReferenceMaster.shellLines("exec /bin/bash -c \(Self.quoted(line))")
                #expect(output.last == "status 0", "\(listSource) | \(reader): \(output)")
            }
        }
    }

    static func quoted(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    @Test("follow writes its lines as they happen into a file, and says 'nothing changed upstream' once per change")
    func followOutput() throws {
        let master = try ReferenceMaster(directories: ["module-a"])
        let config = try Self.singleModule(master)
        let log = master.state.path("follow.out")
        let process = try Command.start(
            "quick-mirror", ["follow", "-c", config, "--interval", "0.2", "-d", "1"], log: log, stdoutToLog: true)
        defer { if process.isRunning { process.terminate() } }
        let text = { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        #expect(
            DaemonProcess.wait(timeout: .seconds(30)) { text().contains("synced module-a") && text().contains("nothing changed") },
            "stdout reaches the file while the follower runs: \(text())")
        usleep(1_500_000)  // several intervals with nothing new
        #expect(text().components(separatedBy: "nothing changed upstream").count - 1 == 1, "\(text())")
        sleepPastNextSecond()
        try master.upstream.file("module-a/releases/42/new.rpm", "new\n")
        try master.publish()
        #expect(DaemonProcess.wait(timeout: .seconds(30)) { text().components(separatedBy: "synced module-a").count == 3 })
        usleep(1_500_000)
        #expect(text().components(separatedBy: "nothing changed upstream").count - 1 == 2, "\(text())")
        kill(process.processIdentifier, SIGTERM)
        #expect(DaemonProcess.wait(timeout: .seconds(10)) { !process.isRunning })
        #expect(process.terminationStatus == 0)
    }

    @Test("-t and -T take a last-run time and compare with the local tree (-a), as the reference's")
    func lastRunFlags() throws {
        let master = try ReferenceMaster(directories: ["module-a"])
        let config = try Self.singleModule(master)
        #expect(try master.run(["-c", config]).status == 0)
        for flags in [["-t", "1700000000"], ["-T", "2023-11-14 00:00 UTC"]] {
            // A file damaged on the mirror (another size): only a look at the local tree finds it.
            try master.mirror.file("module-a/releases/41/pkg-2.rpm", "damaged on the mirror, much longer\n", mode: 0o664)
            let result = try master.run(["-c", config] + flags)
            #expect(result.status == 0, "\(flags): \(result.stderr)")
            master.expectMirrorEqualsMaster("after \(flags)")
        }
        let bad = try master.run(["-c", config, "-T", "not a date at all"])
        #expect(bad.status != 0 && bad.stderr.contains("not a date"))
    }

    @Test("--no-paranoia records the run's start; by default five seconds before it")
    func paranoia() throws {
        let master = try ReferenceMaster(directories: ["module-a"])
        let config = try Self.singleModule(master)
        let timeFile = master.state.path("lastmirrortime")
        func recorded() -> Int64 {
            Int64(ReferenceMaster.shellLines("cat '\(timeFile)'").first?.dropFirst("LASTTIME=".count) ?? "") ?? 0
        }
        let before = Int64(Date().timeIntervalSince1970)
        #expect(try master.run(["-c", config]).status == 0)
        #expect(recorded() <= before - 4 && recorded() >= before - 6)
        sleepPastNextSecond()
        try master.upstream.file("module-a/releases/42/new.rpm", "new\n")
        try master.publish()
        let again = Int64(Date().timeIntervalSince1970)
        #expect(try master.run(["-c", config, "--no-paranoia"]).status == 0)
        #expect(recorded() >= again && recorded() <= again + 2)
    }

    @Test("--refresh REGEX fetches matching paths again by content; deletes, installs and records nothing")
    func refresh() throws {
        let master = try ReferenceMaster(directories: ["module-a"])
        let config = try Self.singleModule(master)
        #expect(try master.run(["-c", config]).status == 0)
        let timeFile = ReferenceMaster.shellLines("cat '\(master.state.path("lastmirrortime"))'")
        // Same size and time, other bytes: rsync's quick check misses both.
        for path in ["module-a/releases/40/dir1/file0", "module-a/releases/40/dir2/file0"] {
            try master.mirror.file(path, "FIXED CONTENT", mode: 0o664)
            try ReferenceMaster.copyTime(from: master.upstream.path(path), to: master.mirror.path(path))
        }
        try master.mirror.file("module-a/stray", "not upstream\n")
        let result = try master.run(["-c", config, "--refresh", "dir1/file0$"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(String(decoding: try master.mirror.read("module-a/releases/40/dir1/file0"), as: UTF8.self) == "fixed content")
        #expect(String(decoding: try master.mirror.read("module-a/releases/40/dir2/file0"), as: UTF8.self) == "FIXED CONTENT")
        #expect(master.exists("module-a/stray"))
        #expect(ReferenceMaster.shellLines("cat '\(master.state.path("lastmirrortime"))'") == timeFile)
    }

    @Test("the configuration is found where the reference looks: -c, then ... the current directory")
    func configurationSearch() throws {
        let master = try ReferenceMaster(directories: ["module-a"])
        let config = try Self.singleModule(master)
        let directory = try TemporaryTree("cwd")
        try FileManager.default.copyItem(atPath: config, toPath: directory.path("quick-fedora-mirror.conf"))
        let executable = Command.executable("quick-mirror").path
        let output = ReferenceMaster.shellLines("cd '\(directory.root)' && '\(executable)' -d 1 2>&1; echo \"status $?\"")
        #expect(output.last == "status 0", "\(output)")
        master.expectMirrorEqualsMaster("with ./quick-fedora-mirror.conf")
        let unreadable = try master.run(["-c", master.state.path("missing.conf")])
        #expect(unreadable.status != 0 && unreadable.stderr.contains("cannot read config"))
    }

    @Test("-h lists every flag of the reference")
    func help() throws {
        let result = try Command.run("quick-mirror", ["sync", "-h"])
        let text = String(decoding: result.stdout, as: UTF8.self)
        for flag in ["-a", "-c", "-d", "-n", "-N", "-t", "-T", "--dir-times", "--checkin-only", "--refresh",
            "--no-paranoia", "--dump-mm-checkin"]
        {
            #expect(text.contains(flag), "\(flag) in:\n\(text)")
        }
        let root = String(decoding: try Command.run("quick-mirror", ["-h"]).stdout, as: UTF8.self)
        #expect(root.contains("--dump-mm-checkin") && root.contains("sync -h"), "\(root)")
    }
}
