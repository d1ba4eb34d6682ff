import FileList
import Foundation
import Testing
import TreeFixtures

/// Fedora publishes three files per module, written together by its wrapper around
/// create-filelist: `fullfilelist` (`-f`), `fullfiletimelist-MODULE` (`-t`) and
/// `imagelist-MODULE` (`-i`). The reference client fetches all three on every run.
@Suite("filelistd writes fullfilelist and imagelist-MODULE beside each time list", .ownThread)
struct CompanionListTests {
    /// What `create-filelist -f -i` writes for the module, its outputs written elsewhere.
    static func oneShot(_ top: TemporaryTree, _ module: String) throws -> (paths: [UInt8], images: [UInt8]) {
        let out = try TemporaryTree("companion-oneshot")
        let result = try Command.run(
            "create-filelist",
            [
                "-d", top.path(module), "-t", out.path("time"), "-f", out.path("fullfilelist"), "-i",
                out.path("imagelist-\(module)"), "-S", "fullfiletimelist-\(module)", "-S", "fullfilelist", "-S",
                "imagelist-\(module)",
            ])
        precondition(result.status == 0, result.stderr)
        return (try out.read("fullfilelist"), try out.read("imagelist-\(module)"))
    }

    static func published(_ top: TemporaryTree, _ module: String) -> (paths: [UInt8], images: [UInt8])? {
        guard let paths = try? top.read("\(module)/fullfilelist"),
            let images = try? top.read("\(module)/imagelist-\(module)")
        else { return nil }
        return (paths, images)
    }

    /// Two modules with images, under a filelistd, once it has published all three lists of
    /// each; the runtime directory goes with the daemon, which must outlive neither.
    static func origin(_ name: String, cloudImage: Bool) throws -> (TemporaryTree, DaemonProcess, TemporaryTree) {
        let top = try TemporaryTree(name)
        try top.file("fedora/releases/40/Server/x86_64/iso/Fedora-Server-40.iso", "iso")
        if cloudImage { try top.file("fedora/releases/40/Cloud/x86_64/images/Fedora-Cloud-40.qcow2", "qcow2") }
        try top.file("fedora/releases/40/Everything/x86_64/os/Packages/a/a-1.rpm", "a")
        try top.file("alt/stage/b.raw.xz", "b")
        let run = try TemporaryTree(name + "-run")
        let daemon = try DaemonProcess(root: top.root, configFile: try writeConfig(top, run))
        for module in ["fedora", "alt"] {
            #expect(DaemonProcess.wait { matches(top, module) }, "\(module): \(daemon.log.suffix(1500))")
        }
        return (top, daemon, run)
    }

    static func matches(_ top: TemporaryTree, _ module: String) -> Bool {
        guard let published = published(top, module), let expected = try? oneShot(top, module) else { return false }
        return published.paths == expected.paths && published.images == expected.images
            && publishedModuleList(top, module) == (try? moduleList(top, module))
    }

    @Test("byte-identical to create-filelist -f/-i for each module, before and after changes; never listed")
    func modules() throws {
        let (top, daemon, run) = try Self.origin("companion", cloudImage: true)
        defer { withExtendedLifetime(run) { daemon.stop() } }
        #expect(try top.read("fedora/imagelist-fedora").count > 0)

        // A new image, a removed one, a renamed directory: all three lists follow together.
        try top.file("fedora/releases/41/Server/x86_64/iso/Fedora-Server-41.iso", "iso41")
        try top.remove("fedora/releases/40/Cloud/x86_64/images/Fedora-Cloud-40.qcow2")
        try FileManager.default.moveItem(atPath: top.path("alt/stage"), toPath: top.path("alt/released"))
        var operations = RandomOperations(tree: top, seed: 5, under: "fedora")
        operations.run(200)
        for module in ["fedora", "alt"] {
            #expect(
                DaemonProcess.wait { Self.matches(top, module) }, "\(module) after changes: \(daemon.log.suffix(1500))")
            let time = String(decoding: try top.read("\(module)/fullfiletimelist-\(module)"), as: UTF8.self)
            let paths = String(decoding: try top.read("\(module)/fullfilelist"), as: UTF8.self)
            for output in ["fullfilelist", "imagelist-\(module)", "fullfiletimelist-\(module)"] {
                #expect(!time.contains("\t\(output)\n"), "\(output) is in the time list")
                #expect(!paths.contains("./\(output)\n"), "\(output) is in fullfilelist")
            }
        }
        #expect(try top.read("fedora/imagelist-fedora").count > 0)
    }

    @Test("the configuration can turn them off")
    func turnedOff() throws {
        let top = try TemporaryTree("companion-off")
        try top.file("fedora/a.iso", "a")
        try top.file("alt/b", "b")
        let run = try TemporaryTree("companion-off-run")
        let daemon = try DaemonProcess(
            root: top.root, configFile: try writeConfig(top, run, "fullfilelist = no\nimagelist = no"))
        defer { daemon.stop() }
        #expect(DaemonProcess.wait { publishedModuleList(top, "fedora") != nil })
        #expect(try top.names(in: "fedora") == ["a.iso", "fullfiletimelist-fedora"])

        let bad = try writeConfig(top, run, "imagelist = maybe")
        let result = try Command.run("filelistd", ["--config", bad, "--runtime-directory", run.root])
        #expect(result.status != 0)
        #expect(result.stderr.contains("line 6: imagelist must be yes or no"), "\(result.stderr)")
    }

    @Test("-f and -i for a single tree, as create-filelist has them")
    func singleTree() throws {
        let tree = try TemporaryTree("companion-single")
        try tree.file("iso/a.iso", "a")
        try tree.file("b.rpm", "b")
        let daemon = try DaemonProcess(
            root: tree.root, arguments: ["--settle", "0.2", "-f", "fullfilelist", "-i", "imagelist"])
        defer { daemon.stop() }
        func expected() throws -> (paths: [UInt8], images: [UInt8]) {
            let out = try TemporaryTree("companion-single-oneshot")
            _ = try Command.run(
                "create-filelist",
                [
                    "-d", tree.root, "-t", out.path("t"), "-f", out.path("fullfilelist"), "-i", out.path("imagelist"),
                    "-S", "fullfiletimelist", "-S", "fullfilelist", "-S", "imagelist",
                ])
            return (try out.read("fullfilelist"), try out.read("imagelist"))
        }
        func matches() -> Bool {
            guard let want = try? expected() else { return false }
            return (try? tree.read("fullfilelist")) == want.paths && (try? tree.read("imagelist")) == want.images
        }
        #expect(DaemonProcess.wait(until: matches))
        try tree.file("iso/b.qcow2", "b")
        #expect(DaemonProcess.wait(until: matches))
        #expect(String(decoding: try tree.read("imagelist"), as: UTF8.self) == "./iso/a.iso\n./iso/b.qcow2\n")
    }

    /// The reference client fetches EXTRAFILES per module with `$mdir` expanded: a filelistd
    /// origin must publish them, or every downstream run fails.
    @Test("a downstream quick-mirror with the reference's default EXTRAFILES syncs from a filelistd origin")
    func downstreamWithDefaultExtraFiles() throws {
        let (top, daemon, run) = try Self.origin("companion-origin", cloudImage: false)
        defer { withExtendedLifetime(run) { daemon.stop() } }
        let rsync = try RsyncDaemon(module: "master", path: top.root)
        let mirror = try TemporaryTree("companion-mirror")
        let state = try TemporaryTree("companion-mirror-state")
        let config = state.path("quick-fedora-mirror.conf")
        // Only what a test must set: FILELIST, EXTRAFILES (fullfilelist imagelist-$mdir) and
        // the module-to-directory mapping are the reference client's defaults.
        try """
        DESTD=\(mirror.root)
        TIMEFILE=\(state.path("timefile"))
        REMOTE=\(rsync.url)
        MASTERMODULE=master
        MODULES=(fedora-enchilada fedora-alt)
        MAXRETRIES=0
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let result = try Command.run("quick-mirror", ["-c", config, "-d", "1"])
        #expect(result.status == 0, "\(result.stderr)\(String(decoding: result.stdout, as: UTF8.self))")
        for module in ["fedora", "alt"] {
            for file in ["fullfilelist", "imagelist-\(module)", "fullfiletimelist-\(module)"] {
                #expect(
                    (try? mirror.read("\(module)/\(file)")) == (try? top.read("\(module)/\(file)")),
                    "\(module)/\(file) on the mirror")
            }
        }
        #expect(try mirror.read("fedora/releases/40/Server/x86_64/iso/Fedora-Server-40.iso") == Array("iso".utf8))
    }
}
