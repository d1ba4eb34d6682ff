import Foundation
import Testing
import TreeFixtures

#if canImport(Glibc)
    import Glibc
#endif

/// quick-mirror run with each configuration shape the reference client documents,
/// against a real rsync daemon; after each run the mirror must equal the master tree
/// as the reference's own tests compare trees (times, modes, paths; hard links).
@Suite("quick-mirror with the reference's configurations", .ownThread)
struct ReferenceConfigurationTests {
    /// The reference's sample configuration (quick-fedora-mirror.conf.dist), as the
    /// reference ships it; only the values it leaves for the operator are filled in.
    static let confDist = """
        # Configuration file for quick-fedora-mirror
        # This file is sourced by the shell and must be in valid sh syntax.

        #### Required settings
        # Required: The the directory holding your copy of all of the modules you
        # mirror.  Does not include any module name
        DESTD=

        # Required: The file in which to store the last mirror time.
        # Note: this really should not be in the repository itself.
        TIMEFILE=

        # Other settings
        # The remote host to rsync from, not including a module name
        # REMOTE=rsync://dl.fedoraproject.org

        # The master module, which holds the other modules
        # Tier 1 mirrors should change this to fedora-buffet0
        # MASTERMODULE=fedora-buffet

        # Set to 1 if the entire repository (all modules under fedora-buffet) should be
        # mirrored.  If set, MODULES (below) is ignored
        # MIRRORBUFFET=0

        # An array containing the modules to be mirrored
        # MODULES=(fedora-enchilada fedora-epel)

        # The name of the file holding the file list on the mirror host
        # FILELIST=fullfiletimelist

        # Verbosity level
        # VERBOSRE=0

        # Mapping of MODULES to directory names, as an associative array
        # MODULEMAPPING=(fedora-alt alt  fedora-archive archive
        #                fedora-enchilada fedora  fedora-epel epel)

        # rsync binary
        # RSYNC=/usr/bin/rsync

        # Array of default options to pass to rsync
        # Will be modified automatically according to VERBOSITY level; no need to set
        # -q or -v here
        # RSYNCOPTS=(-aSH -f 'R .~tmp~' --delete-delay --delay-updates)

        """

    @Test("the reference's conf.dist: its defaults (fedora-buffet, two modules, EXTRAFILES with $mdir) sync silently")
    func confDistDefaults() throws {
        let master = try ReferenceMaster(masterModule: "fedora-buffet", directories: ["fedora", "epel"])
        let text = Self.confDist
            .replacingOccurrences(of: "\nDESTD=\n", with: "\nDESTD=\(master.mirror.root)\n")
            .replacingOccurrences(of: "\nTIMEFILE=\n", with: "\nTIMEFILE=\(master.state.path("lastmirrortime"))\n")
            .replacingOccurrences(of: "# REMOTE=rsync://dl.fedoraproject.org", with: "REMOTE=\(master.daemon.url)")
        let config = try master.configuration(text)
        let first = try master.run(["-c", config])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.isEmpty && first.stderr.isEmpty, "VERBOSE=0: nothing to say on success: \(first.stderr)")
        for path in ["fedora/fullfilelist", "fedora/imagelist-fedora", "epel/fullfilelist", "epel/imagelist-epel"] {
            #expect(master.exists(path), "the EXTRAFILES default brings \(path)")
        }
        master.expectMirrorEqualsMaster("after the first run")
        #expect(
            try master.mirror.inode("epel/shared/from-fedora.rpm") == master.mirror.inode("fedora/releases/41/pkg-0.rpm"))

        sleepPastNextSecond()
        try master.upstream.file("fedora/releases/41/pkg-1.rpm", "rebuilt, and longer than before\n", mode: 0o664)
        try master.upstream.remove("fedora/releases/40/dir2")
        try master.upstream.file("epel/releases/42/new.rpm", "new\n")
        try master.publish()
        let second = try master.run(["-c", config])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(!master.exists("fedora/releases/40/dir2"))
        master.expectMirrorEqualsMaster("after a change upstream")
        #expect(
            ReferenceMaster.shellLines("cat '\(master.state.path("lastmirrortime"))'").first?.hasPrefix("LASTTIME=")
                == true, "the time file is the reference's format")
    }

    @Test("$VAR and ${VAR} from the environment, as the reference's tests write REMOTE=$TESTD/...")
    func environmentReferences() throws {
        let master = try ReferenceMaster(directories: ["module-a"])
        let config = try master.configuration(
            """
            DESTD=$QMTEST_MIRROR
            TIMEFILE="${QMTEST_STATE}/lastmirrortime"
            LOGFILE=$QMTEST_STATE/qfm.log
            REMOTE=rsync://127.0.0.1:${QMTEST_PORT}
            MASTERMODULE=master
            MODULES=(module-a)
            MODULEMAPPING=(module-a module-a)
            MAXRETRIES=1
            """)
        let result = try master.run(
            ["-c", config],
            environment: [
                "QMTEST_MIRROR": master.mirror.root, "QMTEST_STATE": master.state.root,
                "QMTEST_PORT": "\(master.daemon.port)",
            ])
        #expect(result.status == 0, "\(result.stderr)")
        master.expectMirrorEqualsMaster("with every location from the environment")
        let log = ReferenceMaster.shellLines("cat '\(master.state.path("qfm.log"))'")
        #expect(log.contains { $0.contains("synced module-a") }, "LOGFILE from the environment: \(log)")
        #expect(!log.contains { $0.contains("ERR") || $0.contains("error") })
    }

    @Test("MIRRORBUFFET: every module of MODULEMAPPING whatever MODULES says, and DIRECTORY_SIZES.txt")
    func mirrorBuffet() throws {
        let master = try ReferenceMaster(directories: ["alpha", "beta", "gamma"])
        try master.upstream.file("DIRECTORY_SIZES.txt", "sizes\n")
        let config = try master.configuration(
            master.basics + """
                MASTERMODULE=master
                MIRRORBUFFET=1
                MODULES=(mod-alpha)
                MODULEMAPPING=(mod-alpha alpha mod-beta beta mod-gamma gamma)
                """)
        let result = try master.run(["-c", config, "-d", "1"])
        #expect(result.status == 0, "\(result.stderr)")
        master.expectMirrorEqualsMaster("the whole buffet")
        #expect(master.exists("DIRECTORY_SIZES.txt"))
    }

    @Test("KEEPDIRTIMES: after deletions, directory times equal upstream's; without it they do not")
    func keepDirectoryTimes() throws {
        for keep in [true, false] {
            let master = try ReferenceMaster(directories: ["module-a"])
            let config = try master.configuration(
                master.basics + "MASTERMODULE=master\nMODULES=(module-a)\nMODULEMAPPING=(module-a module-a)\n"
                    + (keep ? "KEEPDIRTIMES=1\n" : ""))
            #expect(try master.run(["-c", config]).status == 0)
            sleepPastNextSecond()
            try master.upstream.remove("module-a/releases/40/dir1/file1")
            try master.upstream.remove("module-a/releases/41/dir2")
            try master.publish()
            sleepPastNextSecond()
            let result = try master.run(["-c", config, "-d", "2"])
            #expect(result.status == 0, "\(result.stderr)")
            master.expectMirrorEqualsMaster("files, with KEEPDIRTIMES=\(keep)")
            if keep {
                master.expectMirrorEqualsMaster("directories too", directoryTimes: true)
            } else {
                #expect(
                    ReferenceMaster.listing(master.upstream.path("module-a"), directories: true)
                        != ReferenceMaster.listing(master.mirror.path("module-a"), directories: true),
                    "without KEEPDIRTIMES a deletion leaves its directory's time at the deletion")
            }
        }
    }

    @Test("--dir-times restores every directory's time, including one changed behind quick-mirror's back")
    func allDirectoryTimes() throws {
        let master = try ReferenceMaster(directories: ["module-a"])
        let config = try master.configuration(
            master.basics + "MASTERMODULE=master\nMODULES=(module-a)\nMODULEMAPPING=(module-a module-a)\n")
        #expect(try master.run(["-c", config]).status == 0)
        try ReferenceMaster.setTime(master.mirror.path("module-a/releases/40/dir1"), 1_000_000_000)
        sleepPastNextSecond()
        try master.upstream.file("module-a/releases/41/added.rpm", "added\n")
        try master.publish()
        let result = try master.run(["-c", config, "--dir-times"])
        #expect(result.status == 0, "\(result.stderr)")
        master.expectMirrorEqualsMaster("every directory", directoryTimes: true)
    }

    @Test("FILTEREXP: matching paths are neither fetched nor deleted; the rest equals upstream")
    func filterExpression() throws {
        let master = try ReferenceMaster(directories: ["module-a"])
        let config = try master.configuration(
            master.basics + """
                MASTERMODULE=master
                MODULES=(module-a)
                MODULEMAPPING=(module-a module-a)
                FILTEREXP='/(file1|dir2/dir2)'
                """)
        let result = try master.run(["-c", config])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!master.exists("module-a/releases/40/dir1/file1"))
        #expect(!master.exists("module-a/releases/40/dir2/dir2"))
        #expect(master.exists("module-a/releases/40/dir2/file0"))
        let filtered = try NSRegularExpression(pattern: "/(file1|dir2/dir2)")
        let expected = ReferenceMaster.listing(master.upstream.path("module-a"), directories: false).filter { line in
            let path = "module-a/" + line.split(separator: " ", maxSplits: 3)[3]
            return filtered.firstMatch(in: path, range: NSRange(path.startIndex..., in: path)) == nil
        }
        #expect(ReferenceMaster.listing(master.mirror.path("module-a"), directories: false) == expected)
    }

    @Test("a restricted tree: not world-readable entries only with PREBITFLIP")
    func restrictedTree() throws {
        for preBitflip in [false, true] {
            let master = try ReferenceMaster(directories: ["module-c"])
            try master.upstream.setMode("module-c/releases/40/dir2", 0o770)
            try master.upstream.setMode("module-c/releases/41/dir1/file1", 0o660)
            try master.publish()
            let config = try master.configuration(
                master.basics + "MASTERMODULE=master\nMODULES=(module-c)\nMODULEMAPPING=(module-c module-c)\n"
                    + (preBitflip ? "PREBITFLIP=1\n" : ""))
            let result = try master.run(["-c", config])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(master.exists("module-c/releases/40/dir1/file0"))
            for path in ["module-c/releases/40/dir2", "module-c/releases/40/dir2/dir2/file0", "module-c/releases/41/dir1/file1"] {
                #expect(master.exists(path) == preBitflip, "\(path) with PREBITFLIP=\(preBitflip)")
            }
            if preBitflip { master.expectMirrorEqualsMaster("everything, restricted content too") }
        }
    }

    @Test("EXTRAFILES given (with \\$mdir) are fetched and never deleted; EXTRAFILES=() fetches none")
    func extraFiles() throws {
        let master = try ReferenceMaster(directories: ["module-a"])
        // Written after the lists: no list names them.
        try master.upstream.file("module-a/extrafile1", "one\n", mode: 0o664)
        try master.upstream.file("module-a/extrafile2-module-a", "two\n", mode: 0o664)
        let given = try master.configuration(
            master.basics + """
                MASTERMODULE=master
                MODULES=(module-a)
                MODULEMAPPING=(module-a module-a)
                EXTRAFILES=(extrafile1 extrafile2-\\$mdir)
                """, name: "given.conf")
        let result = try master.run(["-c", given])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(master.exists("module-a/extrafile1") && master.exists("module-a/extrafile2-module-a"))
        #expect(!master.exists("module-a/fullfilelist"), "the default is replaced, not added to")
        master.expectMirrorEqualsMaster(
            "extra files with upstream's mode and time", excluding: ["./fullfilelist", "./imagelist-*"])

        // Upstream drops a file; the run that deletes it keeps the extra files no list names.
        sleepPastNextSecond()
        try master.upstream.remove("module-a/releases/40/pkg-0.rpm")
        try master.publish()
        #expect(try master.run(["-c", given]).status == 0)
        #expect(!master.exists("module-a/releases/40/pkg-0.rpm"))
        #expect(master.exists("module-a/extrafile1") && master.exists("module-a/extrafile2-module-a"))

        let none = try ReferenceMaster(directories: ["module-a"])
        let empty = try none.configuration(
            none.basics + "MASTERMODULE=master\nMODULES=(module-a)\nMODULEMAPPING=(module-a module-a)\nEXTRAFILES=()\n")
        #expect(try none.run(["-c", empty]).status == 0)
        #expect(!none.exists("module-a/fullfilelist") && !none.exists("module-a/imagelist-module-a"))
        #expect(none.exists("module-a/fullfiletimelist-module-a"))
    }

    @Test("the installed lists and extra files have upstream's mode and time")
    func listModesAndTimes() throws {
        let master = try ReferenceMaster(directories: ["module-a"])
        for name in ["fullfiletimelist-module-a", "fullfilelist", "imagelist-module-a"] {
            try master.upstream.setMode("module-a/\(name)", 0o664)
            try ReferenceMaster.setTime(master.upstream.path("module-a/\(name)"), 1_750_000_000)
        }
        let config = try master.configuration(
            master.basics + "MASTERMODULE=master\nMODULES=(module-a)\nMODULEMAPPING=(module-a module-a)\n")
        #expect(try master.run(["-c", config]).status == 0)
        let lines = ReferenceMaster.listing(master.mirror.path("module-a"), directories: false)
        for name in ["fullfiletimelist-module-a", "fullfilelist", "imagelist-module-a"] {
            #expect(lines.contains("1750000000.0000000000 664 f \(name)"), "\(name): \(lines.filter { $0.hasSuffix(name) })")
        }
        master.expectMirrorEqualsMaster("lists included")
    }

    @Test("an unchanged list is not sent again: the installed one is rsync's basis, as in the reference")
    func unchangedListNotRefetched() throws {
        let master = try ReferenceMaster(directories: ["module-a"])
        // An rsync that writes one line per file it really transferred.
        let transfers = master.state.path("transfers")
        let wrapper = try master.state.file(
            "bin/rsync-wrapper",
            "#!/bin/sh\nexec /usr/bin/rsync \"$@\" --out-format='sent %n' >> '\(transfers)'\n", mode: 0o755)
        let config = try master.configuration(
            master.basics + "MASTERMODULE=master\nMODULES=(module-a)\nMODULEMAPPING=(module-a module-a)\nRSYNC=\(wrapper)\n")
        func sentLists() throws -> [String] {
            let lines = ReferenceMaster.shellLines("cat '\(transfers)'; : > '\(transfers)'")
            return lines.filter { $0.hasSuffix("fullfiletimelist-module-a") }
        }
        #expect(try master.run(["-c", config]).status == 0)
        #expect(try sentLists().count == 1, "the first run fetches the list")
        #expect(try master.run(["-c", config]).status == 0)
        #expect(try sentLists().isEmpty, "nothing changed: the list is not sent again")
        sleepPastNextSecond()
        try master.upstream.file("module-a/new.rpm", "new\n")
        try master.publish()
        #expect(try master.run(["-c", config]).status == 0)
        #expect(try sentLists().count == 1, "a changed list is fetched")
        master.expectMirrorEqualsMaster("after the change")
    }

    @Test("RSYNC and RSYNCOPTS are the rsync run (options added to ours); LOGITEMS chooses what LOGFILE gets")
    func rsyncAndLogKeys() throws {
        let master = try ReferenceMaster(directories: ["module-a"])
        // An rsync that notes how it was called, then is rsync.
        let calls = master.state.path("rsync-calls")
        let wrapper = try master.state.file(
            "bin/rsync-wrapper",
            "#!/bin/sh\necho \"$* [$RSYNC_CONNECT_PROG_NOTE]\" >> '\(calls)'\nexec /usr/bin/rsync \"$@\"\n", mode: 0o755)
        let base = master.basics + """
            MASTERMODULE=master
            MODULES=(module-a)
            MODULEMAPPING=(module-a module-a)
            RSYNC=\(wrapper)
            RSYNCOPTS=(--bwlimit=100000 -f 'R .~tmp~')
            LOGFILE=\(master.state.path("qfm.log"))
            export RSYNC_CONNECT_PROG_NOTE='exported for rsync'

            """
        let quiet = try master.configuration(base, name: "quiet.conf")
        let result = try master.run(["-c", quiet])
        #expect(result.status == 0, "\(result.stderr)")
        master.expectMirrorEqualsMaster("through the configured rsync")
        let invocations = ReferenceMaster.shellLines("cat '\(calls)'")
        #expect(invocations.contains { $0.contains("-aSH") && $0.contains("--bwlimit=100000") && $0.contains("R .~tmp~") },
            "\(invocations)")
        // What the file exports reaches rsync, as it does when the reference sources it.
        #expect(invocations.allSatisfy { $0.hasSuffix("[exported for rsync]") }, "\(invocations)")
        // The list fetch is an rsync run too: a port, a password file or a limit applies to it.
        #expect(invocations.contains { $0.contains("--files-from") && $0.contains("--bwlimit=100000") }, "\(invocations)")
        // The default LOGITEMS (aeElrR): run start and the summary of a run that did
        // something; not the runs that found nothing (n).
        #expect(try master.run(["-c", quiet]).status == 0)
        var log = ReferenceMaster.shellLines("cat '\(master.state.path("qfm.log"))'")
        #expect(log.contains { $0.hasSuffix("synced module-a: \(Self.transferredPaths(log)) transferred, 0 deleted, 2 checksums verified") }, "\(log)")
        #expect(log.contains { $0.contains("run start: config \(quiet)") }, "\(log)")
        #expect(!log.contains { $0.contains("nothing changed upstream") }, "\(log)")
        let everything = try master.configuration(base + "LOGITEMS=@\n", name: "everything.conf")
        #expect(try master.run(["-c", everything]).status == 0)
        log = ReferenceMaster.shellLines("cat '\(master.state.path("qfm.log"))'")
        #expect(log.contains { $0.hasSuffix("nothing changed upstream") }, "LOGITEMS=@: \(log)")
    }

    /// "N paths" as the summary in `log` says it, so the check is about the wording around it.
    static func transferredPaths(_ log: [String]) -> String {
        guard let line = log.first(where: { $0.contains("synced module-a: ") }),
            let range = line.range(of: #"[0-9]+ paths"#, options: .regularExpression)
        else { return "?" }
        return String(line[range])
    }
}
