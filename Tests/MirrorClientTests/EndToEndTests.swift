import FileList
import Foundation
import Testing
import TreeFixtures

/// An upstream master module with two modules sharing hard links, served by a real
/// rsync daemon, and a downstream mirror synced by the real quick-mirror binary.
final class MirrorFixture: @unchecked Sendable {
    let upstream: TemporaryTree
    let mirror: TemporaryTree
    let daemon: RsyncDaemon
    let config: String

    init(extraConfig: String = "") throws {
        upstream = try TemporaryTree("upstream")
        mirror = try TemporaryTree("mirror")
        try Self.populate(upstream)
        daemon = try RsyncDaemon(module: "master", path: upstream.root)
        config = mirror.path(".qfm.conf")
        try """
        DESTD=\(mirror.root)
        REMOTE=\(daemon.url)
        MASTERMODULE=master
        MODULES=(fedora-enchilada fedora-alt)
        MODULEMAPPING=(fedora-enchilada fedora fedora-alt alt)
        FILELIST='fullfiletimelist-$mdir'
        MAXRETRIES=0
        \(extraConfig)
        """.write(toFile: config, atomically: true, encoding: .utf8)
        try publish()
    }

    /// Two modules, fedora and alt, sharing a hard link; a symlink, a repomd.xml.
    static func populate(_ upstream: TemporaryTree) throws {
        try upstream.file("fedora/releases/40/Packages/a/a-1.rpm", "a1")
        try upstream.file("fedora/releases/40/Packages/b/b-1.rpm", "b1")
        try upstream.file("fedora/releases/40/repodata/repomd.xml", "<repomd/>\n")
        try upstream.symlink("fedora/releases/latest", to: "40")
        try upstream.file("alt/stage/readme", "alt")
        // Enough content that ordinary deletions stay under the 10% guard.
        for index in 0..<60 { try upstream.file("fedora/releases/40/Packages/f/filler-\(index).rpm", "f\(index)") }
        try upstream.hardLink("alt/stage/a-1.rpm", to: "fedora/releases/40/Packages/a/a-1.rpm")
    }

    /// Regenerates the upstream lists (with the fullfilelist and imagelist the
    /// reference's EXTRAFILES default fetches), as Fedora's publishing does.
    func publish(_ modules: [String] = ["fedora", "alt"]) throws {
        for module in modules {
            let result = try Command.run(
                "create-filelist",
                [
                    "-d", upstream.path(module), "-c", "-s", "-t", upstream.path("\(module)/fullfiletimelist-\(module)"),
                    "-f", upstream.path("\(module)/fullfilelist"), "-i", upstream.path("\(module)/imagelist-\(module)"),
                ])
            precondition(result.status == 0, result.stderr)
        }
    }

    func sync(_ arguments: String...) throws -> Command.Result {
        try Command.run("quick-mirror", ["-c", config] + arguments)
    }

    /// The mirror holds exactly the upstream tree (its own state files aside).
    func expectIdentical(_ context: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let diff = Command.runShell(
            "diff -r --no-dereference -x '.quick-mirror*' -x '.qfm.conf' \(upstream.root) \(mirror.root) > /tmp/qm-diff.txt 2>&1"
        )
        let output = (try? String(contentsOfFile: "/tmp/qm-diff.txt", encoding: .utf8)) ?? ""
        #expect(
            diff == 0, "\(context): mirror differs from upstream:\n\(output.prefix(2000))",
            sourceLocation: sourceLocation)
    }

    func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: mirror.path(path)) }
}

@Suite("quick-mirror against a real rsync daemon on 127.0.0.1", .ownThread)
struct EndToEndTests {
    @Test("first sync, update, delete, rename: the mirror equals upstream, hard links across modules stay links")
    func lifecycle() throws {
        let fixture = try MirrorFixture()
        let first = try fixture.sync("-d", "1")
        #expect(first.status == 0, "\(first.stderr)")
        fixture.expectIdentical("after the first sync")
        #expect(
            try fixture.mirror.inode("fedora/releases/40/Packages/a/a-1.rpm")
                == fixture.mirror.inode("alt/stage/a-1.rpm"),
            "a hard link between modules is one inode on the mirror")

        // Nothing changed upstream: a quick, quiet run.
        let idle = try fixture.sync()
        #expect(idle.status == 0)
        #expect(idle.stdout.isEmpty && idle.stderr.isEmpty, "quiet under cron when nothing changed")
        // VERBOSE=1 too, as the reference: only a run that changed something is worth a mail.
        let idleVerbose = try fixture.sync("-d", "1")
        #expect(idleVerbose.status == 0)
        #expect(idleVerbose.stdout.isEmpty && idleVerbose.stderr.isEmpty, "\(idleVerbose.stderr)")

        // Update, delete a file, a symlink and a whole subtree, rename.
        sleepPastNextSecond()
        try fixture.upstream.file("fedora/releases/40/Packages/a/a-1.rpm", "a1 rebuilt, longer")
        try fixture.upstream.file("fedora/releases/41/Packages/c/c-1.rpm", "c1")
        try fixture.upstream.remove("fedora/releases/latest")
        try fixture.upstream.remove("fedora/releases/40/Packages/b")
        try FileManager.default.moveItem(
            atPath: fixture.upstream.path("alt/stage/readme"), toPath: fixture.upstream.path("alt/stage/README"))
        try fixture.publish()
        let second = try fixture.sync("-d", "1")
        #expect(second.status == 0, "\(second.stderr)")
        fixture.expectIdentical("after update, delete and rename")
        #expect(!fixture.exists("fedora/releases/40/Packages/b"), "a removed subtree is removed")
        #expect(!fixture.exists("fedora/releases/latest"), "a removed symlink is removed")
        #expect(!fixture.exists("alt/stage/readme"))
        #expect(String(decoding: second.stdout, as: UTF8.self).contains("deleted"))
    }

    @Test("a deletion the file system refuses is said even at -d 0, and not counted as done")
    func refusedDeletionIsReported() throws {
        let fixture = try MirrorFixture()
        #expect(try fixture.sync().status == 0)
        // An immutable file: even root's unlink gets EPERM (ext4, as /tmp is here).
        let stuck = "fedora/releases/40/Packages/b/b-1.rpm"
        try #require(Command.runShell("chattr +i '\(fixture.mirror.path(stuck))'") == 0, "chattr +i needs ext4 or xfs")
        defer { _ = Command.runShell("chattr -i '\(fixture.mirror.path(stuck))'") }
        sleepPastNextSecond()
        try fixture.upstream.remove(stuck)
        try fixture.publish()
        let result = try fixture.sync()
        #expect(result.stderr.contains("cannot delete \(stuck)"), "\(result.stderr)")
        #expect(fixture.exists(stuck))
        let verbose = try fixture.sync("-a", "-d", "1")
        #expect(!String(decoding: verbose.stdout, as: UTF8.self).contains("1 deleted"), "\(verbose.stdout)")
    }

    @Test("a file that became a directory upstream, a directory that became a file, a symlink that became a file")
    func typeChanges() throws {
        let fixture = try MirrorFixture()
        try fixture.upstream.file("fedora/releases/40/iso/boot.iso", "iso")
        try fixture.upstream.file("fedora/releases/40/images/a/one.img", "one")
        try fixture.upstream.file("fedora/releases/40/images/a/two.img", "two")
        try fixture.upstream.symlink("fedora/releases/40/current", to: "iso")
        try fixture.publish()
        #expect(try fixture.sync().status == 0)
        fixture.expectIdentical("before the type changes")

        sleepPastNextSecond()
        try fixture.upstream.remove("fedora/releases/40/iso/boot.iso")
        try fixture.upstream.file("fedora/releases/40/iso/boot.iso/README", "now a directory")
        try fixture.upstream.remove("fedora/releases/40/images/a")
        try fixture.upstream.file("fedora/releases/40/images/a", "now a file")
        try fixture.upstream.remove("fedora/releases/40/current")
        try fixture.upstream.file("fedora/releases/40/current", "now a file")
        try fixture.publish()
        let result = try fixture.sync("-d", "1")
        #expect(result.status == 0, "\(result.stderr)")
        fixture.expectIdentical("after the type changes")
        var info = stat()
        #expect(
            lstat(fixture.mirror.path("fedora/releases/40/current"), &info) == 0 && info.st_mode & S_IFMT == S_IFREG)
        #expect(!fixture.exists("fedora/releases/40/images/a/one.img"))
    }

    @Test("follow keeps the mirror in step as upstream changes, and SIGTERM ends it cleanly")
    func follow() throws {
        let fixture = try MirrorFixture()
        let log = fixture.mirror.path(".quick-mirror-follow.log")
        let process = try Command.start(
            "quick-mirror", ["follow", "-c", fixture.config, "--interval", "0.3", "-d", "1"], log: log)
        defer { if process.isRunning { process.terminate() } }
        let identical = {
            Command.runShell(
                "diff -r --no-dereference -x '.quick-mirror*' -x '.qfm.conf' \(fixture.upstream.root) \(fixture.mirror.root)"
            )
                == 0
        }
        let followerLog = { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        // Generous: after a failed run the follower backs off (up to 64 intervals).
        #expect(DaemonProcess.wait(timeout: .seconds(60), until: identical), "the first sync: \(followerLog())")
        sleepPastNextSecond()
        try fixture.upstream.file("fedora/releases/42/Packages/n/new-1.rpm", "new")
        try fixture.upstream.remove("alt/stage/readme")
        try fixture.publish()
        #expect(
            DaemonProcess.wait(timeout: .seconds(60), until: identical),
            "a later change followed without being asked: \(followerLog())")
        kill(process.processIdentifier, SIGTERM)
        #expect(DaemonProcess.wait(timeout: .seconds(10)) { !process.isRunning })
        #expect(process.terminationStatus == 0)
    }

    @Test("a first run creates a destination that does not exist yet")
    func newDestination() throws {
        let fixture = try MirrorFixture()
        let destination = fixture.mirror.path("new/mirror")
        let result = try fixture.sync("--set", "DESTD=\(destination)")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(FileManager.default.fileExists(atPath: destination + "/fedora/releases/40/Packages/a/a-1.rpm"))
    }

    @Test("a checksum mismatch that rsync's size-and-time check misses is repaired")
    func checksumRepair() throws {
        let fixture = try MirrorFixture()
        #expect(try fixture.sync().status == 0)
        // Same size, same mtime, different bytes: rsync alone would never notice.
        let path = fixture.mirror.path("fedora/releases/40/repodata/repomd.xml")
        var before = stat()
        #expect(stat(path, &before) == 0)
        try "<REPOMD/>\n".write(toFile: path, atomically: false, encoding: .utf8)
        // To the nanosecond: rsync compares times that finely (--modify-window=-1).
        var times = [before.st_atim, before.st_mtim]
        #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
        let result = try fixture.sync("-a", "-d", "1")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "<repomd/>\n")
        #expect(result.stderr.contains("checksum mismatch"))
    }

    @Test("restricted content is mirrored only with PREBITFLIP; FILTEREXP paths are left alone")
    func restrictedAndFilter() throws {
        let plain = try MirrorFixture(extraConfig: "FILTEREXP='/isos/'")
        try plain.upstream.directory("fedora/embargo", mode: 0o750)
        try plain.upstream.file("fedora/embargo/next.rpm", "n")
        try plain.upstream.file("fedora/isos/big.iso", "iso")
        // A checksummed file the filter leaves out is not fetched by the checksum check either.
        try plain.upstream.file("fedora/isos/repodata/repomd.xml", "<repomd/>\n")
        try plain.publish()
        #expect(try plain.sync().status == 0)
        #expect(!plain.exists("fedora/embargo/next.rpm"))
        #expect(!plain.exists("fedora/isos/big.iso"))
        #expect(plain.exists("fedora/releases/40/Packages/a/a-1.rpm"))
        #expect(try plain.sync("-a").status == 0)
        #expect(!plain.exists("fedora/isos/repodata/repomd.xml"), "-a verifies checksums of mirrored files only")

        let flipped = try MirrorFixture(extraConfig: "PREBITFLIP=1")
        try flipped.upstream.directory("fedora/embargo", mode: 0o750)
        try flipped.upstream.file("fedora/embargo/next.rpm", "n")
        try flipped.publish()
        #expect(try flipped.sync().status == 0)
        #expect(flipped.exists("fedora/embargo/next.rpm"))
    }

    @Test("files an aborted run left in .~tmp~ are taken up and the staging directory is gone after the next run")
    func abortedRunRecovered() throws {
        let fixture = try MirrorFixture()
        #expect(try fixture.sync().status == 0)
        sleepPastNextSecond()
        try fixture.upstream.file("fedora/releases/40/Packages/a/a-1.rpm", "a1 rebuilt after an aborted run")
        try fixture.publish()
        // What rsync --delay-updates leaves when it is killed: a partial file staged in .~tmp~.
        try fixture.mirror.file("fedora/releases/40/Packages/a/.~tmp~/a-1.rpm", "a1 rebu")
        let result = try fixture.sync("-d", "1")
        #expect(result.status == 0, "\(result.stderr)")
        fixture.expectIdentical("after the recovery")
        #expect(!fixture.exists("fedora/releases/40/Packages/a/.~tmp~"))
    }

    @Test("a listed path that upstream removed after its list was made is skipped at once, not retried for minutes")
    func pathGoneSinceTheList() throws {
        // MAXRETRIES=3: before, rsync's code 23 for the missing path was retried 2 + 4 s
        // with the same stale list, then the run failed (Scripts/three-hosts.sh: minutes).
        let fixture = try MirrorFixture(extraConfig: "MAXRETRIES=3")
        #expect(try fixture.sync().status == 0)
        sleepPastNextSecond()
        try fixture.upstream.file("fedora/releases/41/Packages/n/new-1.rpm", "new 1")
        try fixture.upstream.file("fedora/releases/41/Packages/n/new-2.rpm", "new 2")
        try fixture.publish()
        // Gone upstream between the list and the transfer, as on a live tree.
        try fixture.upstream.remove("fedora/releases/41/Packages/n/new-2.rpm")
        let result = try fixture.sync("-d", "1")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!result.stderr.contains("attempt 2 of"), "no retry: \(result.stderr)")
        #expect(result.stderr.contains("were gone upstream when rsync asked for them"), "\(result.stderr)")
        #expect(fixture.exists("fedora/releases/41/Packages/n/new-1.rpm"))
        #expect(!fixture.exists("fedora/releases/41/Packages/n/new-2.rpm"))
        // The next list no longer names it: the mirror is upstream again.
        try fixture.publish()
        #expect(try fixture.sync().status == 0)
        fixture.expectIdentical("after the next list")

        // An upstream that has none of the paths the lists name is not the tree they
        // describe (the lists of the real upstream, the files of an empty directory): the
        // run fails, and no list is installed.
        let elsewhere = try TemporaryTree("elsewhere")
        try FileManager.default.createDirectory(atPath: elsewhere.path("empty"), withIntermediateDirectories: true)
        let wrong = try fixture.sync(
            "--set", "DESTD=\(elsewhere.path("mirror"))", "--set", "REMOTE=\(elsewhere.path("empty"))",
            "--set", "MASTERMODULE=", "--set", "LISTSOURCE=\(fixture.upstream.root)")
        #expect(wrong.status != 0)
        #expect(wrong.stderr.contains("has none of the"), "\(wrong.stderr)")
        #expect(!FileManager.default.fileExists(atPath: elsewhere.path("mirror/fedora/fullfiletimelist-fedora")))
    }

    @Test("files a failed run fetched, which upstream removed before the next run, are deleted by the next run")
    func strayFilesOfAFailedRun() throws {
        let fixture = try MirrorFixture()
        #expect(try fixture.sync().status == 0)
        sleepPastNextSecond()
        // A new directory, and a repomd.xml that changes again after its list was made:
        // the run fetches both, finds the checksum still wrong, and fails before it
        // installs its list.
        try fixture.upstream.file("fedora/releases/41/Packages/s/stray-1.rpm", "stray")
        let repomd = "fedora/releases/40/repodata/repomd.xml"
        try fixture.upstream.file(repomd, "<repomd revision=\"2\"/>\n")
        try fixture.publish()
        try fixture.upstream.file(repomd, "<repomd revision=\"3\"/>\n")
        let failed = try fixture.sync()
        #expect(failed.status != 0)
        #expect(failed.stderr.contains("checksum still wrong"), "\(failed.stderr)")
        #expect(fixture.exists("fedora/releases/41/Packages/s/stray-1.rpm"), "fetched before the run failed")
        // Upstream removes it again: neither the installed list nor the next one names it.
        try fixture.upstream.remove("fedora/releases/41")
        try fixture.publish()
        let next = try fixture.sync("-d", "1")
        #expect(next.status == 0, "\(next.stderr)")
        #expect(next.stderr.contains("comparing with the tree"), "\(next.stderr)")
        fixture.expectIdentical("after the run that followed a failed one")
        #expect(!fixture.exists("fedora/releases/41"))
        // That run installed its lists: the one after it compares lists again.
        let quiet = try fixture.sync("-d", "1")
        #expect(!quiet.stderr.contains("comparing with the tree"), "\(quiet.stderr)")
    }

    @Test("rsync's staging directories a stopped run left are removed, and do not keep a directory upstream removed")
    func stagingLeftByAStoppedRun() throws {
        // Scripts/three-hosts.sh, tier 1's disk full: rsync --delay-updates failed with
        // files in .~tmp~ below new directories; upstream then renamed those directories
        // away, and the next runs kept them for good ("directories kept (not empty)").
        let fixture = try MirrorFixture()
        #expect(try fixture.sync().status == 0)
        sleepPastNextSecond()
        try fixture.upstream.file("fedora/releases/41/Packages/s/stray-1.rpm", "stray")
        let repomd = "fedora/releases/40/repodata/repomd.xml"
        try fixture.upstream.file(repomd, "<repomd revision=\"2\"/>\n")
        try fixture.publish()
        try fixture.upstream.file(repomd, "<repomd revision=\"3\"/>\n")
        #expect(try fixture.sync().status != 0, "a run that stops after it began changing the mirror")
        // What a transfer that stopped leaves in staging: below a directory upstream
        // removes next, and below one it keeps.
        try fixture.mirror.file("fedora/releases/41/Packages/s/.~tmp~/stray-2.rpm", "half of it")
        try fixture.mirror.file("fedora/releases/40/Packages/b/.~tmp~/b-2.rpm", "half")
        try fixture.upstream.remove("fedora/releases/41")
        try fixture.publish()
        let next = try fixture.sync("-d", "1")
        #expect(next.status == 0, "\(next.stderr)")
        #expect(next.stderr.contains("removed 2 staging directories"), "\(next.stderr)")
        #expect(!next.stderr.contains("kept (not empty)"), "\(next.stderr)")
        #expect(!fixture.exists("fedora/releases/41"))
        #expect(!fixture.exists("fedora/releases/40/Packages/b/.~tmp~"))
        fixture.expectIdentical("after the run that followed the stopped one")
    }

    @Test("the hook runs after a successful sync with the changed modules, and not when nothing changed")
    func hook() throws {
        let fixture = try MirrorFixture()
        let marker = fixture.mirror.path(".quick-mirror-hook-output")
        let hook = ["--hook", "echo \"$QUICK_MIRROR_MODULES\" >> \(marker)"]
        #expect(try Command.run("quick-mirror", ["-c", fixture.config] + hook).status == 0)
        #expect(try String(contentsOfFile: marker, encoding: .utf8) == "fedora-enchilada fedora-alt\n")
        #expect(try Command.run("quick-mirror", ["-c", fixture.config] + hook).status == 0)
        #expect(
            try String(contentsOfFile: marker, encoding: .utf8) == "fedora-enchilada fedora-alt\n", "no change, no hook"
        )
    }

    @Test("-n changes nothing and says what it would do; -N transfers but deletes nothing")
    func dryRunAndTransferOnly() throws {
        let fixture = try MirrorFixture()
        let dry = try fixture.sync("-n", "-d", "1")
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stderr.contains("would transfer fedora/releases/40/Packages/a/a-1.rpm"))
        #expect(!fixture.exists("fedora"), "a dry run writes nothing")
        #expect(try fixture.sync().status == 0)
        try fixture.upstream.remove("fedora/releases/40/Packages/b/b-1.rpm")
        try fixture.upstream.file("fedora/releases/40/Packages/c/c-1.rpm", "c")
        try fixture.publish()
        #expect(try fixture.sync("-N").status == 0)
        #expect(fixture.exists("fedora/releases/40/Packages/c/c-1.rpm"))
        #expect(fixture.exists("fedora/releases/40/Packages/b/b-1.rpm"), "-N deletes nothing")
    }

    @Test("a run that would delete more than 10% of the mirror (and more than --min-guarded-deletions) is refused unless allowed")
    func massDeletion() throws {
        let fixture = try MirrorFixture()
        #expect(try fixture.sync().status == 0)
        try fixture.upstream.remove("fedora/releases")
        try fixture.upstream.file("fedora/placeholder", "p")
        try fixture.publish(["fedora"])
        let refused = try fixture.sync("--min-guarded-deletions", "20")
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("refusing to delete"))
        #expect(fixture.exists("fedora/releases/40/Packages/a/a-1.rpm"), "nothing deleted")
        let allowed = try fixture.sync("--allow-mass-delete")
        #expect(allowed.status == 0, "\(allowed.stderr)")
        fixture.expectIdentical("after an allowed mass deletion")
    }
}

#if canImport(Glibc)
    import Glibc
#endif
