import DaemonControl
import FileList
import Foundation
import Logging
import Publish
import Testing
import TreeFixtures
import TreeScan
import TreeWatch

@testable import ListDaemon

#if canImport(Glibc)
    import Glibc
#endif

/// The daemon in-process, driven step by step: a temporary tree, events fed by hand, a
/// clock moved by hand. Nothing here sleeps on a wall clock: what is due is what the
/// schedule says at the instant the test set.
@Suite("the daemon, built in-process and driven step by step", .ownThread)
struct DaemonStepTests {
    /// A daemon on its own tree, with its parts at hand.
    final class Harness {
        let tree: TemporaryTree
        let clock = ManualDaemonClock()
        let source: ManualEventSource
        let daemon: Daemon
        var publications: [Publication] = []

        init(
            _ label: String = "daemon", modules: [String] = [], linked: [[String]] = [],
            configure: (inout DaemonConfiguration) -> Void = { _ in }, setup: (TemporaryTree) throws -> Void
        ) throws {
            tree = try TemporaryTree(label)
            try setup(tree)
            var configuration = DaemonConfiguration(root: tree.root)
            configuration.modules = modules
            configuration.linkedGroups = linked
            configuration.settle = .seconds(2)
            configuration.maxDelay = .seconds(10)
            configuration.runtimeDirectory = tree.root + "-run"
            configure(&configuration)
            var logger = Logger(label: "daemon-step-tests")
            logger.logLevel = .critical
            source = try ManualEventSource()
            daemon = Daemon(configuration: configuration, logger: logger, clock: clock, source: source)
            daemon.onPublish = { [unowned self] in publications.append($0) }
            try daemon.start()
            daemon.publisher.installer.drain()
        }

        deinit { daemon.stop() }

        /// A change the kernel would report: `name` in `directory`.
        func event(_ directory: String, _ name: String) {
            source.feed([
                .changed(
                    directory: Array(directory.utf8), name: Array(name.utf8), isDirectory: false,
                    leftDirectory: false)
            ])
        }

        /// Advances the clock, takes the events fed so far and runs what is due; waits for
        /// the lists to be renamed into place.
        func step(by duration: Duration = .zero) throws {
            clock.advance(by: duration)
            try daemon.takeEvents()
            try daemon.runDueWork()
            daemon.publisher.installer.drain()
        }

        /// The list on disk against what create-filelist writes for the tree.
        func listMatches(_ list: String = "fullfiletimelist", under module: String = "") throws -> Bool {
            var options = ScanOptions()
            options.topLevelSkips = [Array(list.utf8), Array("fullfilelist".utf8), Array("imagelist-\(module)".utf8)]
            let expected = try FileListGenerator(options: options).generateBytes(root: tree.path(module))
            return (try? tree.read(module.isEmpty ? list : "\(module)/\(list)")) == expected
        }
    }

    @Test("start publishes generation 1, byte-identical to create-filelist")
    func start() throws {
        let harness = try Harness { try $0.file("a/file", "x") }
        #expect(harness.daemon.generation == 1)
        #expect(try harness.listMatches())
        #expect(harness.publications.count == 1)
    }

    @Test("a change is published once the tree has been quiet for the settle time, not before")
    func settle() throws {
        let harness = try Harness { try $0.file("a/file", "x") }
        try harness.tree.file("a/new", "n")
        harness.event("a", "new")
        try harness.step()
        try harness.step(by: .milliseconds(1900))
        #expect(harness.daemon.generation == 1, "published before the settle time")
        try harness.step(by: .milliseconds(100))
        #expect(harness.daemon.generation == 2)
        #expect(try harness.listMatches())
        #expect(harness.daemon.nextDeadline == nil, "nothing left to do")
    }

    @Test("a tree that keeps changing is published after max-delay, and again after it")
    func maxDelay() throws {
        let harness = try Harness { try $0.file("a/file", "x") }
        // A change every second from t = 0: the settle time (2 s) never passes.
        for second in 0..<10 {
            try harness.tree.file("a/f\(second)", "x")
            harness.event("a", "f\(second)")
            try harness.step(by: second == 0 ? .zero : .seconds(1))
        }
        #expect(harness.daemon.generation == 1, "9 s of changes: nothing yet")
        try harness.tree.file("a/f10", "x")
        harness.event("a", "f10")
        try harness.step(by: .seconds(1))
        #expect(harness.daemon.generation == 2, "published at max-delay (10 s) while still changing")
        #expect(try harness.listMatches())
    }

    @Test("a publish that fails (the list's place is taken) keeps the old list and is tried again")
    func retryAfterFailure() throws {
        let harness = try Harness { try $0.file("a/file", "x") }
        let list = harness.tree.path("fullfiletimelist")
        // The list's name is taken by a directory: the new list cannot be renamed there.
        try FileManager.default.removeItem(atPath: list)
        try FileManager.default.createDirectory(atPath: list, withIntermediateDirectories: false)
        try harness.tree.file("a/new", "n")
        harness.event("a", "new")
        try harness.step()
        try harness.step(by: .seconds(2))
        #expect(harness.daemon.generation == 1, "nothing published while the list cannot be written")
        #expect(harness.daemon.health.problem == nil, "one failure is not yet a problem")
        #expect(harness.daemon.nextDeadline != nil, "a retry is scheduled")
        try harness.step(by: .seconds(5))
        #expect(harness.daemon.generation == 1)
        try FileManager.default.removeItem(atPath: list)
        try harness.step(by: .seconds(5))
        #expect(harness.daemon.generation == 2, "the retry publishes once the place is free")
        #expect(try harness.listMatches())
    }

    @Test("an audit finds a change no event reported, and publishes it")
    func audit() throws {
        let harness = try Harness(configure: { $0.auditInterval = .seconds(60) }) { try $0.file("a/file", "x") }
        // A writer the kernel does not report (as on NFS): no event. In a later second than
        // the scan, so that the directory's line changes too, whatever the machine's pace.
        sleepPastNextSecond()
        try harness.tree.file("a/unseen", "u")
        try harness.step(by: .seconds(30))
        #expect(harness.daemon.generation == 1)
        try harness.step(by: .seconds(30))
        #expect(harness.daemon.generation == 2)
        #expect(try harness.listMatches())
        let status = try harness.daemon.handle(.status)
        // The new file's line and its directory's time.
        #expect(status.contains("rescans: 1 (last drift: 2)"), "\(status)")
    }

    @Test("lists of linked modules are published in one generation, renamed together")
    func linkedModules() throws {
        let harness = try Harness(modules: ["fedora", "alt"], linked: [["fedora", "alt"]]) { tree in
            try tree.file("fedora/Packages/a.rpm", "a")
            try tree.file("alt/stage/readme", "r")
        }
        #expect(try harness.listMatches("fullfiletimelist-fedora", under: "fedora"))
        #expect(try harness.listMatches("fullfiletimelist-alt", under: "alt"))
        sleepPastNextSecond()
        // A new link in alt changes the ctime of fedora's name too.
        try harness.tree.hardLink("alt/stage/a.rpm", to: "fedora/Packages/a.rpm")
        harness.event("alt/stage", "a.rpm")
        try harness.step()
        try harness.step(by: .seconds(2))
        #expect(harness.daemon.generation == 2)
        let last = try #require(harness.publications.last)
        #expect(
            Set(last.files.map(\.path)).isSuperset(of: ["fedora/fullfiletimelist-fedora", "alt/fullfiletimelist-alt"]))
        #expect(try harness.listMatches("fullfiletimelist-fedora", under: "fedora"))
        #expect(try harness.listMatches("fullfiletimelist-alt", under: "alt"))
    }

    @Test("a rescan of a path reads that subtree only, and publishes what no event reported")
    func rescanPaths() throws {
        let harness = try Harness { tree in
            for directory in ["updates/40/a", "updates/40/b", "releases/40/a", "releases/40/b"] {
                try tree.file("\(directory)/file", "x")
            }
        }
        try harness.tree.file("updates/40/a/pushed.rpm", "p")
        let before = try harness.daemon.handle(.status)
        let reply = try harness.daemon.handle(.rescanPaths(["updates/40"]))
        harness.daemon.publisher.installer.drain()
        // updates/40 and its two directories, and updates, whose block holds updates/40's
        // line: nothing of releases/.
        #expect(reply.contains("rescan updates/40: 4 directories read, 1 added"), "\(reply)")
        #expect(harness.daemon.generation == 2)
        #expect(try harness.listMatches())
        #expect(before.contains("directories read: 0"), "\(before)")
    }

    @Test(
        "a rescan path outside the tree is refused in one line, and nothing is read",
        arguments: ["../etc", "/etc", "updates/../../etc", "./updates", "/tmp"])
    func rescanRefused(path: String) throws {
        let harness = try Harness { try $0.file("updates/40/file", "x") }
        try harness.tree.file("updates/40/unseen", "u")
        let reply = try harness.daemon.handle(.rescanPaths([path]))
        #expect(reply.hasPrefix("error: "), "\(reply)")
        #expect(reply.filter { $0 == "\n" }.count == 1, "one line: \(reply)")
        #expect(harness.daemon.generation == 1, "nothing published")
        #expect(try harness.daemon.handle(.status).contains("directories read: 0"))
    }

    /// Lines of the status reply that count work: "directories read: N", "rescans: N".
    private static func count(_ field: String, in status: String) -> Int? {
        status.split(separator: "\n").first { $0.hasPrefix("\(field): ") }
            .flatMap { Int($0.dropFirst(field.count + 2).prefix { $0.isNumber }) }
    }

    @Test("a list's own temporary file that came and went costs no read of the tree")
    func ownTemporaryCameAndWent() throws {
        let harness = try Harness { tree in
            try tree.file("a/file", "x")
            try tree.file("b/file", "y")
        }
        // A named temporary of a list that the publisher discarded, read by inotify only
        // after it was gone (seen under load, through a FUSE view where O_TMPFILE fails).
        harness.source.feed([.nameCameAndWent(directory: [], name: Array(".fullfiletimelist.tmp-36lu7hb".utf8))])
        try harness.step()
        try harness.step(by: .seconds(3))
        let status = try harness.daemon.handle(.status)
        #expect(Self.count("directories read", in: status) == 0, "\(status)")
        #expect(Self.count("rescans", in: status) == 0, "\(status)")
        #expect(harness.daemon.generation == 1)
    }

    @Test("a name that came and went in one module reads that module again whole, not the others")
    func cameAndWentInOneModule() throws {
        let harness = try Harness(modules: ["fedora", "alt"]) { tree in
            for directory in ["fedora/a", "fedora/b", "alt/a", "alt/b", "alt/c"] {
                try tree.file("\(directory)/file", "x")
            }
        }
        // A change no event reported, in each module: only the module read whole finds it.
        try harness.tree.file("fedora/a/unreported", "u")
        try harness.tree.file("alt/a/unreported", "u")
        harness.source.feed([.nameCameAndWent(directory: Array("fedora/b".utf8), name: Array("link".utf8))])
        try harness.step()
        try harness.step(by: .seconds(3))
        let status = try harness.daemon.handle(.status)
        // fedora's top, a and b: none of alt's four directories.
        #expect(Self.count("directories read", in: status) == 3, "\(status)")
        #expect(harness.daemon.generation == 2)
        #expect(try harness.listMatches("fullfiletimelist-fedora", under: "fedora"))
        #expect(!(try harness.listMatches("fullfiletimelist-alt", under: "alt")), "alt was read though nothing named it")
    }
}
