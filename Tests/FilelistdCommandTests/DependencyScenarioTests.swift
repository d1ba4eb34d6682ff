import FileList
import Foundation
import Testing
import TreeFixtures

/// Changes whose effect reaches entries no event names (FORMAT.md, "What a watcher must
/// notice that no event names"), one at a time, so a missed dependency cannot hide
/// behind an unrelated rescan of the same directory.
@Suite("filelistd follows dependencies that no event names", .ownThread)
struct DependencyScenarioTests {
    struct Scenario: Sendable, CustomTestStringConvertible {
        var name: String
        var setup: @Sendable (TemporaryTree) throws -> Void
        var change: @Sendable (TemporaryTree) throws -> Void
        var testDescription: String { name }
    }

    static let scenarios: [Scenario] = [
        Scenario(
            name: "deleting a symlink's target in another directory hides the link",
            setup: { tree in
                try tree.file("targets/t", "x")
                try tree.symlink("links/l", to: "../targets/t")
            },
            change: { tree in try tree.remove("targets/t") }),
        Scenario(
            name: "creating a dangling symlink's target shows the link",
            setup: { tree in
                try tree.directory("targets")
                try tree.symlink("links/l", to: "../targets/t")
            },
            change: { tree in try tree.file("targets/t", "x") }),
        Scenario(
            name: "chmod of a symlink's target to 600 hides the link",
            setup: { tree in
                try tree.file("targets/t", "x")
                try tree.symlink("links/l", to: "../targets/t")
            },
            change: { tree in try tree.setMode("targets/t", 0o600) }),
        Scenario(
            name: "a new hard link elsewhere changes the time of the other name",
            setup: { tree in try tree.file("a/file", "x") },
            change: { tree in
                sleepPastNextSecond()
                try tree.hardLink("b/link", to: "a/file")
            }),
        Scenario(
            name: "unlinking one name changes the time of the other",
            setup: { tree in
                try tree.file("a/file", "x")
                try tree.hardLink("b/link", to: "a/file")
            },
            change: { tree in
                sleepPastNextSecond()
                try tree.remove("b/link")
            }),
        Scenario(
            name: "chmod 750 on a directory restricts its whole subtree",
            setup: { tree in
                for index in 0..<3 { try tree.file("top/mid/deep/f\(index)", "x") }
            },
            change: { tree in try tree.setMode("top", 0o750) }),
        Scenario(
            name: "chmod 700 hides a subtree, chmod 755 shows it again",
            setup: { tree in try tree.file("top/mid/f", "x") },
            change: { tree in
                try tree.setMode("top", 0o700)
                usleep(400_000)
                try tree.file("top/mid/added-while-hidden", "x")
                try tree.setMode("top", 0o755)
            }),
        Scenario(
            name: "a directory moved out of the tree and a new one moved in",
            setup: { tree in
                try tree.file("inside/sub/f", "x")
                try tree.file("../\(URL(fileURLWithPath: tree.root).lastPathComponent)-outside/new/g", "y")
            },
            change: { tree in
                let outside = tree.root + "-outside"
                try FileManager.default.moveItem(atPath: tree.path("inside"), toPath: outside + "/gone")
                try FileManager.default.moveItem(atPath: outside + "/new", toPath: tree.path("arrived"))
                // Changes in the directory that left must not reach the list.
                try "z".write(toFile: outside + "/gone/sub/later", atomically: false, encoding: .utf8)
            }),
        Scenario(
            name: "a directory renamed across levels, then written to at its new place",
            setup: { tree in try tree.file("a/b/c/f", "x") },
            change: { tree in
                try FileManager.default.moveItem(atPath: tree.path("a/b"), toPath: tree.path("moved"))
                usleep(300_000)
                try tree.file("moved/c/new", "n")
            }),
        Scenario(
            name: "rsync --delay-updates staging stays out of the list",
            setup: { tree in try tree.directory("repo") },
            change: { tree in
                try tree.file("repo/.~tmp~/pkg.rpm", "staged")
                usleep(300_000)
                try FileManager.default.moveItem(
                    atPath: tree.path("repo/.~tmp~/pkg.rpm"), toPath: tree.path("repo/pkg.rpm"))
                try tree.remove("repo/.~tmp~")
            }),
        Scenario(
            name: "files created right after their directory is",
            setup: { _ in },
            change: { tree in
                for index in 0..<50 { try tree.file("burst/d\(index % 5)/e\(index % 3)/f\(index)", "x") }
            }),
    ]

    @Test("the published list follows the change", arguments: scenarios)
    func follows(_ scenario: Scenario) throws {
        let tree = try TemporaryTree("scenario")
        defer { try? FileManager.default.removeItem(atPath: tree.root + "-outside") }
        try scenario.setup(tree)
        let daemon = try DaemonProcess(root: tree.root, arguments: ["--events", "inotify", "--settle", "0.2"])
        defer { daemon.stop() }
        try expectConverges(tree, daemon, "\(scenario.name): after the initial scan")
        let before = publishedList(tree)
        try scenario.change(tree)
        try expectConverges(tree, daemon, "\(scenario.name): after the change")
        #expect(publishedList(tree) != before, "the change is visible in the list")
    }
}

@Suite("filelistd keeps checksums current", .ownThread)
struct ChecksumFollowTests {
    @Test("a repomd.xml rewritten at the same size in the same second gets its new checksum")
    func sameSizeRewrite() throws {
        let tree = try TemporaryTree("checksums")
        try tree.file("repodata/repomd.xml", "x\n")
        let daemon = try DaemonProcess(root: tree.root, arguments: ["-c", "--settle", "0.1"])
        defer { daemon.stop() }
        let expected = { try Command.run("create-filelist", ["-d", tree.root, "-c", "-S", "fullfiletimelist"]).stdout }
        #expect(try DaemonProcess.wait { try publishedList(tree) == expected() })
        // Same size, and the mtime pinned to what it was: only the content differs.
        let path = tree.path("repodata/repomd.xml")
        let modified = try FileManager.default.attributesOfItem(atPath: path)[.modificationDate]!
        try "y\n".write(toFile: path, atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.modificationDate: modified], ofItemAtPath: path)
        let converged = try DaemonProcess.wait { try publishedList(tree) == expected() }
        #expect(converged, "\(daemon.log.suffix(1500))")
        #expect(
            String(decoding: publishedList(tree) ?? [], as: UTF8.self).contains(
                "9063a9f0e032b6239403b719cbbba56ac4e4e45f"))
    }
}
