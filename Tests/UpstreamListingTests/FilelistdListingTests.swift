import Crypto
import FileList
import Foundation
import Testing
import TreeFixtures
import UpstreamListing

/// The listing against a real filelistd --http on 127.0.0.1, following its change
/// stream and asking for deltas.
@Suite("the upstream's lists, read from a filelistd", .ownThread)
struct FilelistdListingTests {
    static let repomd = "<repomd><revision>1</revision></repomd>\n"

    /// A tree served by filelistd, with SHA-256 sections for its repomd.xml files.
    final class Upstream: @unchecked Sendable {
        let tree: TemporaryTree
        let daemon: DaemonProcess
        let base: String

        init() throws {
            tree = try TemporaryTree()
            for name in ["rewritten", "grown", "deleted", "kept"] {
                try tree.file("releases/40/Packages/\(name).rpm", "\(name) contents")
            }
            // Enough lines that a delta of four edits is much smaller than the list.
            for index in 0..<200 { try tree.file("releases/40/Packages/p-\(index).rpm", "\(index)") }
            try tree.file("releases/40/repodata/repomd.xml", FilelistdListingTests.repomd)
            try tree.symlink("releases/latest", to: "40")
            daemon = try DaemonProcess(
                root: tree.root,
                arguments: [
                    "--settle", "0.3", "--http", "127.0.0.1:0", "--name", "origin", "-c",
                    "--checksum-algorithms", "sha1,sha256",
                ])
            let daemon = self.daemon
            guard let port = HTTPProbe.port(inLog: { daemon.log }),
                DaemonProcess.wait(until: { daemon.log.contains("lists announced") })
            else {
                throw TestFailure("filelistd did not serve its list over HTTP:\n\(daemon.log)")
            }
            base = "http://127.0.0.1:\(port)"
        }

        /// The list as filelistd published it, read by the project's strict reader.
        func publishedList() throws -> FileList {
            try FileListReader.parse(Array(try Data(contentsOf: URL(fileURLWithPath: tree.path("fullfiletimelist")))))
        }

        func metric(_ name: String) async throws -> Double? {
            let text = try await HTTPProbe.get("\(base)/metrics").text
            return text.split(separator: "\n").first { $0.hasPrefix(name + " ") }
                .flatMap { Double($0.split(separator: " ").last ?? "") }
        }
    }

    /// Every file line of the published list is what `listed` gives for its path.
    static func expectListed(_ listing: UpstreamListing, matches list: FileList) {
        let sha256 = Dictionary(uniqueKeysWithValues: (list.checksums[.sha256] ?? []).map { ($0.path, $0.hex) })
        for entry in list.entries {
            let expected =
                entry.type.kind == .file
                ? ListedFile(mtime: entry.time, size: entry.size, sha256: sha256[entry.path]) : nil
            #expect(listing.listed(entry.displayPath) == expected, "\(entry.displayPath)")
        }
    }

    @Test("after start, listed gives each file's time, size and SHA-256; the first load is no generation")
    func firstLoad() async throws {
        let upstream = try Upstream()
        let running = try RunningListing(
            listServer: upstream.base, lists: ["fullfiletimelist"], pollInterval: .seconds(60))
        let listing = running.listing
        try #require(
            running.wait { listing.listed("releases/40/Packages/kept.rpm") != nil }, "\(running.log.all)")
        let list = try upstream.publishedList()
        Self.expectListed(listing, matches: list)
        #expect(list.entries.count > 200)

        let digest = SHA256.hash(data: Array(Self.repomd.utf8)).map { String(format: "%02x", $0) }.joined()
        let repomd = try #require(listing.listed("releases/40/repodata/repomd.xml"))
        #expect(repomd == ListedFile(mtime: repomd.mtime, size: Int64(Self.repomd.utf8.count), sha256: digest))
        for unlisted in ["releases/40/Packages/nothing.rpm", "releases/40", "releases/latest", "fullfiletimelist"] {
            #expect(listing.listed(unlisted) == nil, "\(unlisted)")
        }
        #expect(listing.isCovered("releases/40/Packages/nothing.rpm"))
        try await Task.sleep(for: .milliseconds(500))
        #expect(running.generations.isEmpty)
        #expect(running.log.matching("list loaded").count == 1)
    }

    @Test("a changed tree's next generation names exactly the files changed, grown, deleted and added, via a delta")
    func nextGeneration() async throws {
        let upstream = try Upstream()
        // Polls are a minute apart: the new generation can only come from the change stream.
        let running = try RunningListing(
            listServer: upstream.base, lists: ["fullfiletimelist"], pollInterval: .seconds(60))
        let listing = running.listing
        try #require(
            running.wait { listing.listed("releases/40/Packages/kept.rpm") != nil }, "\(running.log.all)")
        let deltasBefore = try await upstream.metric("filelistd_list_transfers_total{kind=\"delta\"}") ?? 0
        let before = try #require(listing.listed("releases/40/Packages/rewritten.rpm"))

        // Past the second of the first scan, so that the rewrite's time is another. Written
        // in place: FileManager's atomic writes pass through a temporary name, which the
        // daemon may list (and then remove) in a generation of its own.
        sleepPastNextSecond()
        let packages = URL(fileURLWithPath: upstream.tree.path("releases/40/Packages"))
        try Data("REWRITTEN contents".utf8).write(to: packages.appendingPathComponent("rewritten.rpm"))
        let grown = try FileHandle(forWritingTo: packages.appendingPathComponent("grown.rpm"))
        try grown.seekToEnd()
        try grown.write(contentsOf: Data(" and more".utf8))
        try grown.close()
        try FileManager.default.removeItem(at: packages.appendingPathComponent("deleted.rpm"))
        try Data("added".utf8).write(to: packages.appendingPathComponent("added.rpm"))

        let generations = await running.generations(after: 0, covering: 4)
        // The daemon may publish the four changes in more than one generation: their union
        // is what the tree did.
        let changed = Set(generations.flatMap(\.changed))
        let removed = Set(generations.flatMap(\.removed))
        #expect(
            changed == [
                "releases/40/Packages/added.rpm", "releases/40/Packages/grown.rpm",
                "releases/40/Packages/rewritten.rpm",
            ], "\(running.log.all)")
        #expect(removed == ["releases/40/Packages/deleted.rpm"], "\(generations)")
        #expect(generations.map(\.generation) == Array(1...max(1, generations.count)))

        Self.expectListed(listing, matches: try upstream.publishedList())
        let rewritten = try #require(listing.listed("releases/40/Packages/rewritten.rpm"))
        #expect(rewritten.size == before.size && rewritten.mtime > before.mtime)
        #expect(listing.listed("releases/40/Packages/deleted.rpm") == nil)

        // One log line per generation, each saying it came as a delta.
        let installed = running.log.matching("list generation installed")
        #expect(installed.count == generations.count)
        #expect(installed.allSatisfy { $0.metadata["transfer"]?.hasPrefix("delta") == true }, "\(installed)")
        #expect(installed.allSatisfy { $0.metadata["list"] == "fullfiletimelist" })
        let deltasAfter = try await upstream.metric("filelistd_list_transfers_total{kind=\"delta\"}") ?? 0
        #expect(deltasAfter >= deltasBefore + Double(generations.count))
    }
}
