import ArgumentParser
import FileList
import Foundation
import TreeIndex
import TreeScan

/// Builds the index from synthetic Fedora-like directories (no files needed) and measures
/// its memory per entry and the time to render a full list after one change.
struct IndexRun: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "index")

    @Option(help: "Entries to index.") var entries = 5_000_000

    func run() throws {
        let perDirectory = 100
        let packageDirectories = entries / perDirectory
        let releases = max(1, packageDirectories / 500)
        let before = residentBytes()
        let started = ContinuousClock.now
        var index = TreeIndex()
        // Every file its own inode number, as on a real file system: the index finds the
        // names of an inode through a table keyed by it, where a hundred names sharing each
        // number (as this benchmark once gave them) made every insertion walk a long run.
        var nextInode: UInt64 = 1000

        func directory(_ path: String, _ names: [String], kind: EntryKind, time: Int64) -> ScannedDirectory {
            var scanned = ScannedDirectory(path: Array(path.utf8), underRestrictedDirectory: false)
            for (offset, name) in names.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
                .enumerated()
            {
                let bytes = Array(name.utf8)
                scanned.entries.append(
                    ScannedEntry(
                        nameStart: UInt32(scanned.names.count), nameLength: UInt32(bytes.count),
                        type: EntryType(kind), mode: kind == .directory ? 0o40755 : 0o100644,
                        time: time + Int64(offset), size: kind == .directory ? 4096 : Int64(offset * 1000),
                        device: 1, inode: nextInode, linkCount: 1))
                nextInode += 1
                scanned.names += bytes
            }
            return scanned
        }

        let releaseNames = (0..<releases).map { "release-\($0)" }
        _ = index.replaceChildren(
            of: TreeIndex.root, with: directory("", releaseNames, kind: .directory, time: 1_700_000_000))
        var indexed = releases
        for release in releaseNames {
            let releaseNode = index.node(at: Array(release.utf8))!
            let letters = (0..<500).map { "Packages-\($0)" }
            _ = index.replaceChildren(
                of: releaseNode, with: directory(release, letters, kind: .directory, time: 1_700_000_000))
            indexed += letters.count
            for letter in letters where indexed < entries {
                let path = "\(release)/\(letter)"
                let files = (0..<perDirectory).map { "\(letter.suffix(2))-package-\($0)-1.2.3-4.fc40.x86_64.rpm" }
                _ = index.replaceChildren(
                    of: index.node(at: Array(path.utf8))!,
                    with: directory(path, files, kind: .file, time: 1_700_000_000))
                indexed += files.count
            }
        }
        let buildSeconds = seconds(since: started)
        let after = residentBytes()

        // One change, then a full render (to memory: the list's bytes, counted).
        let changed = "release-0/Packages-7"
        let files = (0..<perDirectory).map { "s7-package-\($0)-1.2.3-4.fc40.x86_64.rpm" } + ["new.rpm"]
        _ = index.replaceChildren(
            of: index.node(at: Array(changed.utf8))!, with: directory(changed, files, kind: .file, time: 1_800_000_000))
        var renders: [Double] = []
        var bytes = 0
        for _ in 0..<3 {
            bytes = 0
            let start = ContinuousClock.now
            index.render { bytes += $0.count }
            renders.append(seconds(since: start))
        }
        print(
            String(
                format: "| %d | %.1f s | %.0f MB | %.0f | %.2f s (%d MB list) |", index.count, buildSeconds,
                Double(after - before) / 1e6, Double(after - before) / Double(index.count), renders.min()!,
                bytes / 1_000_000))
    }
}
