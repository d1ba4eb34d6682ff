import FileList
import Foundation
import SystemPackage
import Testing
import TreeFixtures
import TreeIndex
import TreeScan
import TreeWatch

/// The delta a publisher builds from what its index recorded changing must turn the
/// list it published last into the list it publishes now, byte for byte, and be the
/// delta a comparison of the two lists gives: a client that applies it gets the new
/// list (it checks the SHA-256), and one that got it from a diff could not tell.
@Suite("Deltas from the index's own record of its changes", .ownThread)
struct JournalDeltaTests {
    @Test(
        "random operations, reconciled by full rescans: each journal delta rebuilds the next list",
        arguments: [1, 2, 3] as [UInt64])
    func randomOperations(seed: UInt64) throws {
        let tree = try TemporaryTree("journal")
        for directory in ["pub/a", "pub/b/c", "restricted/x"] {
            for index in 0..<5 { try tree.file("\(directory)/file-\(index)", "x") }
        }
        try tree.file("pub/repodata/repomd.xml", "r\n")
        try tree.setMode("restricted", 0o750)
        try checkJournal(tree: tree, seed: seed, rounds: 12, operations: 40)
    }

    @Test("random operations on a Fedora-shaped tree: each journal delta rebuilds the next list")
    func mirrorShaped() throws {
        let tree = try TemporaryTree("journal-mirror")
        try FileManager.default.removeItem(atPath: tree.root)
        _ = try MirrorTreeGenerator(entries: 1500, seed: 4).generate(at: tree.root)
        try checkJournal(tree: tree, seed: 4, rounds: 6, operations: 60)
    }

    @Test(
        "treechurn.py on a Fedora-shaped tree: each journal delta rebuilds the next list",
        .enabled(if: SharedTools.available, SharedTools.absence))
    func treechurn() throws {
        let tree = try TemporaryTree("journal-churn")
        try SharedTools.run("mktree.py", ["--files", "1500", "--out", tree.root])
        let outside = try TemporaryTree("journal-churn-outside")
        try checkJournal(tree: tree, seed: 1, rounds: 6) { round in
            _ = try SharedTools.run(
                "treechurn.py",
                ["--dir", tree.root, "--outside", outside.root, "--ops", "150", "--seed", "\(round + 1)"])
        }
    }

    private func checkJournal(tree: TemporaryTree, seed: UInt64, rounds: Int, operations: Int) throws {
        var random = RandomOperations(tree: tree, seed: seed)
        try checkJournal(tree: tree, seed: seed, rounds: rounds) { round in
            // Every other round past a second boundary, so that changed times show.
            if round % 2 == 1 { sleepPastNextSecond() }
            random.run(operations)
        }
    }

    private func checkJournal(
        tree: TemporaryTree, seed: UInt64, rounds: Int, change: (Int) throws -> Void
    ) throws {
        let algorithms: [ChecksumAlgorithm] = [.sha1, .sha256]
        var index = TreeIndex()
        _ = try index.scan(root: tree.root, options: HardLinkTrackingTests.watcherOptions, warn: { _ in })
        let rootFD = try FileDescriptor.open(tree.root, .readOnly, options: .directory)
        defer { try? rootFD.close() }
        let reader = DirectoryReader(options: HardLinkTrackingTests.watcherOptions)
        let source = try ManualEventSource()
        var tracker = ChangeTracker()
        var published = index.renderBytes(algorithms: algorithms)
        index.startJournal(algorithms: algorithms)
        var edited = 0
        for round in 0..<rounds {
            try change(round)
            tracker.requestFullRescan()
            _ = try tracker.apply(
                to: &index, root: tree.root, rootFD: rootFD, reader: reader,
                options: HardLinkTrackingTests.watcherOptions, source: source, warn: { _ in })
            _ = index.revalidateSymlinks(root: rootFD)
            let now = index.renderBytes(algorithms: algorithms)
            let delta = try #require(
                try index.journalDelta(base: "round-\(round)", result: "round-\(round + 1)", algorithms: algorithms))
            #expect(try delta.applied(to: published) == now, "seed \(seed), round \(round)")
            let compared = try FileListDelta.make(
                from: published, to: now, base: "round-\(round)", result: "round-\(round + 1)")
            #expect(
                delta == compared,
                "seed \(seed), round \(round): \(delta.editCount) against \(compared.editCount) edits")
            edited += delta.editCount
            published = now
            index.startJournal(algorithms: algorithms)
        }
        #expect(edited > 0, "the operations changed nothing the list shows")
    }
}
