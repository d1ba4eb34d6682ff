import FileList
import Foundation
import ListProtocol
import SystemPackage
import Testing
import TreeFixtures
import TreeIndex
import TreeScan
import TreeWatch

/// The index renders its lists as segments that a publisher reuses: the bytes must be
/// the list's, the cuts must be the ones the digest rule makes from the bytes alone, and a
/// segment is reused only when its bytes are the same as before.
@Suite("the index's lists in segments: the same bytes and cuts, reused only when unchanged", .ownThread)
struct SegmentRenderTests {
    static var options: ScanOptions {
        var options = ScanOptions()
        options.checksumNames = [Array("repomd.xml".utf8)]
        options.keepUnlistedSymlinks = true
        options.keepHiddenEntries = true
        return options
    }

    /// A tree of 600 package directories of 1 to 8 files, with repodata, a restricted
    /// directory and images: about ten segments (a segment ends after one directory in 64).
    static func makeTree(seed: UInt64) throws -> TemporaryTree {
        let tree = try TemporaryTree("segments")
        var random = SeededRandom(seed: seed)
        for number in 0..<600 {
            let directory = "linux/releases/\(number % 5)/Everything/x86_64/os/Packages/p\(number)"
            for file in 0..<Int(random.next() % 8 + 1) { try tree.file("\(directory)/pkg-\(file).rpm", "x") }
            if number % 80 == 0 { try tree.file("\(directory)/../../repodata/repomd.xml", "r\(number)\n") }
            if number % 160 == 0 { try tree.file("linux/releases/\(number % 5)/iso/image-\(number).iso", "") }
        }
        try tree.directory("restricted", mode: 0o750)
        try tree.file("restricted/a", "a")
        return tree
    }

    /// What one publish gets: the pieces, with reused ones replaced by the previous
    /// rendering's bytes for them; checks the reused ones are what they replace.
    struct Rendering {
        var bytes: [UInt8] = []
        var segments: [[UInt8]] = []
        var reused = 0
        var fresh = 0
    }

    static func render(
        _ index: inout TreeIndex, _ kind: ListKind, previous: (BlockLayout, Rendering)?
    ) -> (BlockLayout, Rendering) {
        var rendering = Rendering()
        let layout = index.renderSegments(kind, algorithms: [.sha1], previous: previous?.0) { piece in
            switch piece {
            case .reused(let position):
                rendering.segments.append(previous!.1.segments[position])
                rendering.reused += 1
            case .fresh(let bytes):
                rendering.segments.append(bytes)
                rendering.fresh += 1
            }
        }
        rendering.bytes = rendering.segments.flatMap { $0 }
        return (layout, rendering)
    }

    static func whole(_ index: borrowing TreeIndex, _ kind: ListKind) -> [UInt8] {
        switch kind {
        case .times: return index.renderBytes()
        case .paths, .images:
            var bytes: [UInt8] = []
            index.renderPaths(imagesOnly: kind == .images) { bytes += $0 }
            return bytes
        }
    }

    /// The cuts the digest rule makes from the bytes alone.
    static func cuts(_ bytes: [UInt8]) -> [[UInt8]] {
        ListSegmentRule.segments(of: bytes).map { Array(bytes[$0]) }
    }

    @Test(
        "after random operations, reused segments plus rendered ones are the list, cut by the rule",
        arguments: [1, 2] as [UInt64])
    func randomChanges(seed: UInt64) throws {
        let tree = try Self.makeTree(seed: seed)
        var index = TreeIndex()
        _ = try index.scan(root: tree.root, options: Self.options, warn: { _ in })
        var previous: [ListKind: (BlockLayout, Rendering)] = [:]
        for kind in [ListKind.times, .paths, .images] {
            let (layout, rendering) = Self.render(&index, kind, previous: nil)
            #expect(rendering.bytes == Self.whole(index, kind))
            #expect(rendering.segments == Self.cuts(rendering.bytes), "\(kind): the cuts are the rule's")
            if kind == .times { #expect(rendering.segments.count > 6, "segments: \(rendering.segments.count)") }
            previous[kind] = (layout, rendering)
        }
        index.markPublished()

        let rootFD = try FileDescriptor.open(tree.root, .readOnly, options: .directory)
        defer { try? rootFD.close() }
        let source = try ManualEventSource()
        var operations = RandomOperations(tree: tree, seed: seed)
        for round in 0..<6 {
            if round % 3 == 2 { sleepPastNextSecond() }
            operations.run(round == 0 ? 1 : 25)
            var tracker = ChangeTracker()
            tracker.requestFullRescan()
            _ = try tracker.apply(
                to: &index, root: tree.root, rootFD: rootFD, reader: DirectoryReader(options: Self.options),
                options: Self.options, source: source, warn: { _ in })
            for kind in [ListKind.times, .paths, .images] {
                let (layout, rendering) = Self.render(&index, kind, previous: previous[kind])
                let expected = Self.whole(index, kind)
                #expect(rendering.bytes == expected, "\(kind), round \(round): the segments are not the list")
                #expect(
                    rendering.segments == Self.cuts(expected), "\(kind), round \(round): cuts differ from the rule's")
                if kind == .times && round == 0 {
                    #expect(
                        rendering.fresh <= 6, "one operation rendered \(rendering.fresh) of \(rendering.segments.count)"
                    )
                }
                previous[kind] = (layout, rendering)
            }
            index.markPublished()
        }
    }

    @Test("nothing changed: every block segment is reused")
    func nothingChanged() throws {
        let tree = try Self.makeTree(seed: 9)
        var index = TreeIndex()
        _ = try index.scan(root: tree.root, options: Self.options, warn: { _ in })
        let first = Self.render(&index, .times, previous: nil)
        index.markPublished()
        let pending = index.hasUnpublishedChanges
        #expect(!pending)
        let second = Self.render(&index, .times, previous: first)
        #expect(second.1.bytes == first.1.bytes)
        // The header, the lone empty line (if any) and the checksums are rendered each time.
        #expect(second.1.fresh <= 5, "fresh: \(second.1.fresh) of \(second.1.segments.count)")
    }
}
