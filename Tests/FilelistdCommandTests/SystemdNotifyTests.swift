import Foundation
import Testing
import TreeFixtures

#if canImport(Glibc)
    import Glibc
#endif

@Suite("filelistd speaks sd_notify through the real libsystemd", .ownThread)
struct SystemdNotifyTests {
    @Test("READY after the first publish, STATUS counts, WATCHDOG, RELOADING around SIGHUP, STOPPING")
    func notifications() throws {
        let tree = try TemporaryTree("notify")
        try tree.file("a/b", "x")
        let sockets = try TemporaryTree("notify-socket")
        let socket = try NotifySocket(path: sockets.path("notify"))
        let daemon = try DaemonProcess(
            root: tree.root, arguments: ["--settle", "0.1"],
            environment: ["NOTIFY_SOCKET": socket.path, "WATCHDOG_USEC": "400000"])
        defer { daemon.stop() }

        let startup = socket.receive(until: "READY=1")
        #expect(startup.last?.contains("READY=1") == true, "\(startup)")
        #expect(startup.last?.contains("STATUS=2 entries, generation 1") == true, "\(startup)")
        #expect(
            FileManager.default.fileExists(atPath: tree.path("fullfiletimelist")), "READY comes after the first publish"
        )

        #expect(socket.receive(until: "WATCHDOG=1").last == "WATCHDOG=1")

        kill(daemon.process.processIdentifier, SIGHUP)
        let reload = socket.receive(until: "READY=1")
        let reloading = reload.firstIndex { $0.contains("RELOADING=1") }
        #expect(reloading != nil, "\(reload)")
        #expect(reload.last?.contains("READY=1") == true)
        #expect(reload.first { $0.contains("RELOADING=1") }?.contains("MONOTONIC_USEC=") == true)

        try tree.file("a/c", "y")
        #expect(socket.receive(until: "STATUS=3 entries, generation 2").last?.contains("generation 2") == true)

        kill(daemon.process.processIdentifier, SIGTERM)
        #expect(socket.receive(until: "STOPPING=1").last == "STOPPING=1")
        daemon.process.terminate(within: .seconds(20))
        #expect(daemon.process.terminationStatus == 0)
    }
}

/// libsystemd's journal client writes to this fixed path; on a machine without a
/// running journald the test stands in for it.
let journalSocket = "/run/systemd/journal/socket"

/// One suite, run serially: its tests share the journal socket's fixed path.
@Suite("logging to the journal with structured fields", .serialized, .ownThread)
struct JournalLoggingTests {
    @Test(
        "under systemd (JOURNAL_STREAM set) each log line is a journal entry with fields",
        .enabled(if: !FileManager.default.fileExists(atPath: journalSocket), "a real journald owns the socket"))
    func journalFields() throws {
        try FileManager.default.createDirectory(atPath: "/run/systemd/journal", withIntermediateDirectories: true)
        let journal = try NotifySocket(path: journalSocket)
        let tree = try TemporaryTree("journal")
        try tree.file("a", "x")
        let daemon = try DaemonProcess(root: tree.root, environment: ["JOURNAL_STREAM": "8:12345"])
        defer { daemon.stop() }
        let entries = journal.receive(until: "MESSAGE=list published")
        let published = try #require(entries.last)
        let fields = Set(published.split(separator: "\n").map(String.init))
        #expect(fields.contains("PRIORITY=6"))
        #expect(fields.contains("SYSLOG_IDENTIFIER=filelistd"))
        #expect(fields.contains("GENERATION=1"))
        #expect(fields.contains("ENTRIES=1"))
        #expect(fields.contains("PATH=\(tree.path("fullfiletimelist"))"))
        #expect(!daemon.log.contains("list published"), "nothing on standard error under the journal")
    }

    @Test(
        "quick-mirror with LOGJOURNAL=1 writes its summary to the journal",
        .enabled(if: !FileManager.default.fileExists(atPath: journalSocket), "a real journald owns the socket"))
    func quickMirrorJournal() throws {
        try FileManager.default.createDirectory(atPath: "/run/systemd/journal", withIntermediateDirectories: true)
        let journal = try NotifySocket(path: journalSocket)
        let upstream = try TemporaryTree("journal-upstream")
        try upstream.file("pub/a.rpm", "a")
        #expect(
            try Command.run(
                "create-filelist", ["-d", upstream.path("pub"), "-s", "-t", upstream.path("pub/fullfiletimelist-pub")]
            )
            .status == 0)
        let mirror = try TemporaryTree("journal-mirror")
        let result = try Command.run(
            "quick-mirror",
            [
                "--set", "DESTD=\(mirror.root)", "--set", "REMOTE=\(upstream.root)", "--set", "MODULES=(pub)", "--set",
                "LOGJOURNAL=1",
            ])
        #expect(result.status == 0, "\(result.stderr)")
        let entries = journal.receive(until: "MESSAGE=synced pub")
        let fields = Set((entries.last ?? "").split(separator: "\n").map(String.init))
        #expect(
            fields.contains("MESSAGE=synced pub: 1 path transferred, 0 deleted, 0 checksums verified"), "\(entries)")
        #expect(fields.contains("SYSLOG_IDENTIFIER=quick-mirror"))
    }
}
