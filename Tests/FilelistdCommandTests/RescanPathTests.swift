import Foundation
import Testing
import TreeFixtures

#if canImport(Glibc)
    import Glibc
#endif

/// `filelistd rescan PATH` and `POST /rescan?path=PATH`, where the daemon really gets no
/// event for a write, as for an NFS client's on another host: the daemon watches the tree
/// through a bindfs view (FUSE reports nothing of writes made underneath) while the test
/// writes to the directory below it.
@Suite("rescan of paths, for writers the kernel does not report", .ownThread)
struct RescanPathTests {
    /// A tree under a bindfs view; unmounted when done.
    final class Viewed: @unchecked Sendable {
        let under: TemporaryTree
        let view: TemporaryTree
        /// bindfs in the foreground: the view lasts as long as it runs.
        let bindfs: Process

        init() throws {
            under = try TemporaryTree("nfs-under")
            for directory in ["updates/40/a", "updates/40/b", "releases/40/a", "releases/40/b", "releases/41"] {
                try under.file("\(directory)/file.rpm", "x")
            }
            view = try TemporaryTree("nfs-view")
            bindfs = try Command.start("/usr/bin/bindfs", ["-f", "--no-allow-other", under.root, view.root])
            let mounted = DaemonProcess.wait(timeout: .seconds(10)) {
                ((try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)) ?? "").contains(" \(view.root) ")
            }
            try #require(mounted, "bindfs (Debian package bindfs) and /dev/fuse are needed")
        }

        deinit {
            _ = Command.runShell("fusermount -u '\(view.root)' || umount -l '\(view.root)'")
            bindfs.terminate(within: .seconds(10))
        }

        func listed(_ name: String) -> Bool {
            (try? view.read("fullfiletimelist")).map { String(decoding: $0, as: UTF8.self).contains(name) } ?? false
        }
    }

    static func directoriesRead(_ daemon: DaemonProcess) throws -> Int? {
        let status = try daemon.control("status")
        return status.split(separator: "\n").first { $0.hasPrefix("directories read: ") }
            .flatMap { Int($0.dropFirst("directories read: ".count)) }
    }

    @Test("a write underneath is not seen; rescan PATH reads that subtree only and publishes it")
    func commandLine() throws {
        let tree = try Viewed()
        let daemon = try DaemonProcess(root: tree.view.root, arguments: ["--settle", "0.1"])
        defer { daemon.stop() }
        #expect(DaemonProcess.wait { tree.listed("updates/40/a/file.rpm") }, "\(daemon.log)")
        try tree.under.file("updates/40/a/pushed-1.0.rpm", "p")
        // Longer than the settle time: no event came, so nothing changed.
        usleep(600_000)
        #expect(!tree.listed("pushed-1.0.rpm"), "the view reported a write made underneath")
        #expect(try Self.directoriesRead(daemon) == 0)

        let result = try Command.run(
            "filelistd",
            ["rescan", "--dir", tree.view.root, "--runtime-directory", daemon.runtimeDirectory.root, "updates/40"])
        let reply = String(decoding: result.stdout, as: UTF8.self)
        #expect(result.status == 0, "\(reply)\(result.stderr)")
        // updates/40, its two directories, and updates (whose block has updates/40's line).
        #expect(reply.contains("updates/40: 4 directories read, 1 added"), "\(reply)")
        #expect(DaemonProcess.wait { tree.listed("updates/40/a/pushed-1.0.rpm") })
        #expect(try Self.directoriesRead(daemon) == 4, "nothing outside updates/40 was read")
    }

    @Test(
        "a path outside the tree, or with '..', is one line, exit 1, and nothing is read",
        arguments: ["../etc", "/etc", "updates/../../etc"])
    func refused(path: String) throws {
        let tree = try Viewed()
        let daemon = try DaemonProcess(root: tree.view.root, arguments: ["--settle", "0.1"])
        defer { daemon.stop() }
        #expect(DaemonProcess.wait { tree.listed("updates/40/a/file.rpm") }, "\(daemon.log)")
        let result = try Command.run(
            "filelistd", ["rescan", "--dir", tree.view.root, "--runtime-directory", daemon.runtimeDirectory.root, path])
        #expect(result.status == 1)
        #expect(result.stderrLines.count == 1, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("filelistd: error: "), "\(result.stderr)")
        #expect(try Self.directoriesRead(daemon) == 0)
    }

    @Test("over HTTP: allowed networks get the rescan; others get 403 and nothing is read")
    func http() async throws {
        let tree = try Viewed()
        let allowed = try DaemonProcess(
            root: tree.view.root,
            arguments: ["--settle", "0.1", "--http", "127.0.0.1:0", "--allow-rescan-from", "10.0.0.0/8,127.0.0.1"])
        defer { allowed.stop() }
        let port = try #require(HTTPProbe.port(inLog: { allowed.log }), "\(allowed.log)")
        #expect(DaemonProcess.wait { tree.listed("releases/41/file.rpm") }, "\(allowed.log)")
        try tree.under.file("releases/41/pushed-2.0.rpm", "p")
        let answer = try Command.run(
            "/usr/bin/curl",
            ["-s", "-w", "\n%{http_code}", "-X", "POST", "http://127.0.0.1:\(port)/rescan?path=releases/41"])
        let text = String(decoding: answer.stdout, as: UTF8.self)
        #expect(text.hasSuffix("\n200"), "\(text)")
        #expect(text.contains("releases/41: 2 directories read, 1 added"), "\(text)")
        #expect(DaemonProcess.wait { tree.listed("releases/41/pushed-2.0.rpm") })
        let outside = try Command.run(
            "/usr/bin/curl",
            ["-s", "-w", "\n%{http_code}", "-X", "POST", "http://127.0.0.1:\(port)/rescan?path=../etc"])
        #expect(String(decoding: outside.stdout, as: UTF8.self).hasSuffix("\n400"))
        allowed.stop()

        let refusing = try DaemonProcess(
            root: tree.view.root,
            arguments: ["--settle", "0.1", "--http", "127.0.0.1:0", "--allow-rescan-from", "10.0.0.0/8"])
        defer { refusing.stop() }
        let refusingPort = try #require(HTTPProbe.port(inLog: { refusing.log }), "\(refusing.log)")
        // Its own first list (the one on disk is the first daemon's until then).
        #expect(DaemonProcess.wait { refusing.log.contains("list published") }, "\(refusing.log)")
        try tree.under.file("releases/40/a/pushed-3.0.rpm", "p")
        let forbidden = try Command.run(
            "/usr/bin/curl",
            ["-s", "-w", "\n%{http_code}", "-X", "POST", "http://127.0.0.1:\(refusingPort)/rescan?path=releases"])
        let forbiddenText = String(decoding: forbidden.stdout, as: UTF8.self)
        #expect(forbiddenText.hasSuffix("\n403"), "\(forbiddenText)")
        #expect(forbiddenText.contains("rescan from 127.0.0.1 is not allowed"), "\(forbiddenText)")
        #expect(try Self.directoriesRead(refusing) == 0, "\(refusing.log)")
        #expect(!tree.listed("pushed-3.0.rpm"))
    }
}
