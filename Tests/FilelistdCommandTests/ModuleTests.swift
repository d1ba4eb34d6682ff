import FileList
import Foundation
import Testing
import TreeFixtures

/// The list create-filelist writes for one module, as Fedora's wrapper runs it (its three
/// outputs in the module's directory are not listed).
func moduleList(_ top: TemporaryTree, _ module: String) throws -> [UInt8] {
    try Command.run(
        "create-filelist",
        ["-d", top.path(module), "-S", "fullfiletimelist-\(module)", "-S", "fullfilelist", "-S", "imagelist-\(module)"]
    ).stdout
}

func publishedModuleList(_ top: TemporaryTree, _ module: String) -> [UInt8]? {
    try? top.read("\(module)/fullfiletimelist-\(module)")
}

func writeConfig(_ top: TemporaryTree, _ run: TemporaryTree, _ extra: String = "") throws -> String {
    let path = run.path("pub.conf")
    try """
    # test configuration
    top = \(top.root)
    modules = fedora alt
    linked = fedora alt
    settle = 0.2   # seconds
    \(extra)
    """.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

@Suite("filelistd with a config file: modules of one top directory", .ownThread)
struct ModuleTests {
    @Test("each module's list is what create-filelist writes for it, before and after changes")
    func modulesConverge() throws {
        let top = try TemporaryTree("modules")
        try top.file("fedora/releases/40/a.rpm", "a")
        try top.file("alt/stage/b.iso", "b")
        try top.file("not-a-module/c", "c")
        let run = try TemporaryTree("modules-run")
        let config = try writeConfig(top, run)
        let daemon = try DaemonProcess(root: top.root, configFile: config)
        defer { daemon.stop() }

        for module in ["fedora", "alt"] {
            #expect(
                DaemonProcess.wait { publishedModuleList(top, module) == (try? moduleList(top, module)) }, "\(module)")
        }
        #expect(!FileManager.default.fileExists(atPath: top.path("fullfiletimelist")), "no list for the top itself")

        var operations = RandomOperations(tree: top, seed: 11, under: "fedora")
        operations.run(300)
        try top.file("alt/new/file", "n")
        for module in ["fedora", "alt"] {
            let converged = DaemonProcess.wait { publishedModuleList(top, module) == (try? moduleList(top, module)) }
            #expect(converged, "\(module): \(daemon.log.suffix(2000))")
        }
    }

    @Test("a hard link made in one module updates the other module's list, and both lists are replaced together")
    func linkedModules() throws {
        let top = try TemporaryTree("linked")
        try top.file("fedora/shared.rpm", "s")
        try top.directory("alt")
        let run = try TemporaryTree("linked-run")
        let daemon = try DaemonProcess(root: top.root, configFile: try writeConfig(top, run))
        defer { daemon.stop() }
        for module in ["fedora", "alt"] {
            #expect(DaemonProcess.wait { publishedModuleList(top, module) == (try? moduleList(top, module)) })
        }
        let fedoraBefore = try top.inode("fedora/fullfiletimelist-fedora")
        sleepPastNextSecond()
        try top.hardLink("alt/shared.rpm", to: "fedora/shared.rpm")
        for module in ["fedora", "alt"] {
            let converged = DaemonProcess.wait { publishedModuleList(top, module) == (try? moduleList(top, module)) }
            #expect(converged, "\(module) follows the new link: \(daemon.log.suffix(1500))")
        }
        #expect(try top.inode("fedora/fullfiletimelist-fedora") != fedoraBefore)
    }

    @Test("config errors name the file and the line; a missing module fails at start")
    func configErrors() throws {
        let top = try TemporaryTree("config-errors")
        try top.directory("fedora")
        let run = try TemporaryTree("config-errors-run")
        let unknown = try writeConfig(top, run, "colour = blue")
        let result = try Command.run("filelistd", ["--config", unknown, "--runtime-directory", run.root])
        #expect(result.status != 0)
        #expect(result.stderr.contains("pub.conf: line 6: unknown key 'colour'"), "\(result.stderr)")

        let missing = try writeConfig(top, run)
        let started = try Command.run("filelistd", ["--config", missing, "--runtime-directory", run.root])
        #expect(started.status != 0)
        #expect(started.stderr.contains("module 'alt'"), "\(started.stderr)")
        #expect(started.stderrLines.count == 1 || started.stderr.contains("error:"))
    }
}
