import FileList
import Foundation
import Testing
import TreeFixtures

/// What create-filelist writes for the tree, leaving out the daemon's own list.
func oneShotList(_ tree: TemporaryTree, _ options: [String] = []) throws -> [UInt8] {
    try Command.run("create-filelist", ["-d", tree.root, "-S", "fullfiletimelist"] + options).stdout
}

func publishedList(_ tree: TemporaryTree) -> [UInt8]? {
    try? tree.read("fullfiletimelist")
}

/// Waits until the daemon's list equals a fresh one-shot scan; records a diff if not.
@discardableResult
func expectConverges(
    _ tree: TemporaryTree, _ daemon: DaemonProcess, _ context: String, options: [String] = []
) throws -> Int {
    // The tree holds still while this waits, so the one-shot list is made once and the
    // published one read until it agrees (a create-filelist run per poll made most of
    // this suite's CPU time). Should the tree still change (a file the daemon writes),
    // the one-shot is made again on each poll for a while.
    var expected = try oneShotList(tree, options)
    var converged = DaemonProcess.wait { publishedList(tree) == expected }
    if !converged {
        converged = try DaemonProcess.wait(timeout: .seconds(5)) {
            expected = try oneShotList(tree, options)
            return publishedList(tree) == expected
        }
    }
    if !converged {
        let published = Set(ListLines.files(of: publishedList(tree) ?? []))
        let fresh = Set(ListLines.files(of: expected))
        let missing = fresh.subtracting(published).map { String(decoding: $0, as: UTF8.self) }.sorted().prefix(10)
        let extra = published.subtracting(fresh).map { String(decoding: $0, as: UTF8.self) }.sorted().prefix(10)
        Issue.record(
            "\(context): the published list differs from create-filelist's.\nmissing: \(missing)\nextra: \(extra)\nlog:\n\(daemon.log.suffix(3000))"
        )
        return Set(ListLines.files(of: publishedList(tree) ?? [])).symmetricDifference(fresh).count
    }
    return 0
}

@Suite("filelistd keeps its list identical to a one-shot scan, with real kernel events", .ownThread)
struct InvariantTests {
    static func seedTree() throws -> TemporaryTree {
        let tree = try TemporaryTree("invariant")
        for directory in ["pub/a", "pub/b/c", "restricted/x"] {
            for index in 0..<5 { try tree.file("\(directory)/file-\(index)", "x") }
        }
        try tree.setMode("restricted", 0o750)
        return tree
    }

    /// Both generators of operations, both event sources, 2 seeds each; 20 seeds each with
    /// `QUICKMIRROR_STRESS=1`.
    static let seeds: [UInt64] = SharedTools.stress ? Array(1...20) : [1, 2]
    /// The event sources: both, or those `QUICKMIRROR_TEST_EVENTS` names (Scripts/fs-matrix.sh:
    /// `auto inotify` on a btrfs subvolume, where fanotify cannot mark).
    static let events: [String] =
        ProcessInfo.processInfo.environment["QUICKMIRROR_TEST_EVENTS"]?.split(separator: " ").map(String.init)
        ?? ["inotify", "fanotify"]
    static let runs: [(String, UInt64)] = events.flatMap { events in seeds.map { (events, $0) } }

    @Test("ours: 2,000 random operations, checked every 100: the list converges to create-filelist's", arguments: runs)
    func randomOperations(events: String, seed: UInt64) throws {
        let tree = try Self.seedTree()
        let daemon = try DaemonProcess(root: tree.root, arguments: ["--events", events, "--settle", "0.2"])
        defer { daemon.stop() }
        try expectConverges(tree, daemon, "after the initial scan")

        var operations = RandomOperations(tree: tree, seed: seed)
        for round in 1...20 {
            // Now and then cross a second boundary, so that ctime changes (hard links,
            // chmods, renames) show in the list and a missed one is caught.
            if round % 4 == 0 { sleepPastNextSecond() }
            operations.run(50)
            usleep(20_000)
            operations.run(50)
            try expectConverges(tree, daemon, "\(events), seed \(seed), after \(operations.performed) operations")
        }
        #expect(daemon.process.isRunning)
        #expect(operations.performed == 2000)
        try expectNoDrift(daemon)
    }

    /// treechurn.py (`../shared/tools`, written apart from this project) on a Fedora-shaped
    /// tree from mktree.py: 2,000 operations with pauses (so the daemon publishes while
    /// the churn goes on), then quiet. The options are the ones Fedora runs with.
    @Test(
        "ours on a Fedora-shaped tree: 1,000 operations with pauses, then quiet: no drift",
        arguments: ["inotify", "fanotify"])
    func mirrorShaped(events: String) throws {
        let tree = try TemporaryTree("mirror-shaped")
        try FileManager.default.removeItem(atPath: tree.root)
        _ = try MirrorTreeGenerator(entries: 5000, seed: 7).generate(at: tree.root)
        let options = ["-c"]
        let daemon = try DaemonProcess(root: tree.root, arguments: ["--events", events, "--settle", "0.2"] + options)
        defer { daemon.stop() }
        try expectConverges(tree, daemon, "after the initial scan", options: options)
        var operations = RandomOperations(tree: tree, seed: 7, under: "linux")
        for round in 1...10 {
            if round % 3 == 0 { sleepPastNextSecond() }
            operations.run(100)
            if round % 4 == 0 { usleep(400_000) }
        }
        let drift = try expectConverges(tree, daemon, "\(events), Fedora-shaped tree", options: options)
        #expect(drift == 0, "drift: \(drift) lines")
        try expectNoDrift(daemon)
    }

    @Test(
        "treechurn.py: 2,000 operations on a Fedora-shaped tree, then quiet: no drift",
        .enabled(if: SharedTools.available, SharedTools.absence), arguments: runs)
    func treechurn(events: String, seed: UInt64) throws {
        let tree = try TemporaryTree("churn")
        try SharedTools.run("mktree.py", ["--files", "5000", "--out", tree.root])
        let outside = try TemporaryTree("churn-outside")
        let options = ["-c", "-C", "CHECKSUM"]
        let daemon = try DaemonProcess(root: tree.root, arguments: ["--events", events, "--settle", "0.2"] + options)
        defer { daemon.stop() }
        try expectConverges(tree, daemon, "after the initial scan", options: options)
        let churn = try SharedTools.run(
            "treechurn.py",
            [
                "--dir", tree.root, "--outside", outside.root, "--ops", "2000", "--seed", "\(seed)", "--pauses", "3",
                "--skip", "fullfiletimelist",
            ])
        let drift = try expectConverges(tree, daemon, "\(events), treechurn seed \(seed) (\(churn))", options: options)
        #expect(drift == 0, "drift: \(drift) lines")
        #expect(daemon.process.isRunning)
        try expectNoDrift(daemon)
    }

    /// The events alone kept the index right: a full rescan finds nothing to fix, and no
    /// overflow forced one.
    func expectNoDrift(_ daemon: DaemonProcess) throws {
        let rescan = try daemon.control("rescan")
        #expect(rescan.contains("rescan: 0 added, 0 removed, 0 changed"), "\(rescan)")
        let status = try daemon.control("status")
        #expect(status.contains("overflows: 0"), "\(status)")
    }
}
