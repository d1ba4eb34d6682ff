import Foundation
import MirrorCache
import Testing
import TreeFixtures
import UpstreamListing

#if canImport(Glibc)
    import Glibc
#endif

/// Issue 11, item 2, against a list the test controls: the cache asks the upstream again
/// for exactly the paths whose line changed.
@Suite("Freshness from the list", .serialized, .ownThread)
struct ListedFreshnessTests {
    @Test func changedLinesAreFetchedAgainAndNothingElse() async throws {
        let tree = try UpstreamTree()
        let listed = HandListed()
        let paths = ["f/same-size.rpm", "f/grows.rpm", "f/repodata/repomd.xml", "f/untouched.rpm"]
        // Lines made by hand: the list's time is the test's to choose (a file's ctime is not).
        func list(_ path: String, _ bytes: [UInt8], time: Int64) {
            listed.set(
                path,
                ListedFile(
                    mtime: time, size: Int64(bytes.count),
                    sha256: path.hasSuffix("repomd.xml") ? Client.sha256(bytes) : nil))
        }
        for (index, path) in paths.enumerated() {
            list(path, try tree.file(path, size: 20_000 + index, seed: UInt64(index)), time: 1_700_000_000)
        }
        let server = try ThrottledFileServer(root: tree.root)
        let harness = try await CacheHarness(upstreams: [server], listed: listed)
        defer { Task { await harness.stop() } }
        for path in paths { #expect(await Client.get(harness.url + "/" + path).status == 200) }
        harness.settle()
        // The stored copies carry their list line's time, so a restart still knows it.
        for path in paths {
            var info = stat()
            stat(harness.directory + "/reverse/" + path, &info)
            #expect(Int64(info.st_mtim.tv_sec) == listed.listed(path)?.mtime)
        }
        // Hits, so that the small copies are also kept in memory when the list changes.
        for path in paths { #expect(await Client.get(harness.url + "/" + path).status == 200) }
        #expect(server.totalGets == paths.count)

        // A rewrite with the same size, a size change, and repomd.xml with only its checksum changed.
        let sameSize = try tree.file("f/same-size.rpm", size: 20_000, seed: 99)
        let grown = try tree.file("f/grows.rpm", size: 30_000, seed: 98)
        let repomd = try tree.file("f/repodata/repomd.xml", size: 20_002, seed: 97)
        list("f/same-size.rpm", sameSize, time: 1_700_000_100)
        list("f/grows.rpm", grown, time: 1_700_000_100)
        list("f/repodata/repomd.xml", repomd, time: 1_700_000_000)
        server.resetCounts()

        #expect(await Client.get(harness.url + "/f/same-size.rpm").body == sameSize)
        #expect(await Client.get(harness.url + "/f/grows.rpm").body == grown)
        #expect(await Client.get(harness.url + "/f/repodata/repomd.xml").body == repomd)
        #expect(await Client.get(harness.url + "/f/untouched.rpm").status == 200)
        #expect(server.gets("/f/same-size.rpm") == 1)
        #expect(server.gets("/f/grows.rpm") == 1)
        #expect(server.gets("/f/repodata/repomd.xml") == 1)
        #expect(server.totalGets == 3, "no other request reached the upstream")
        // And now they are current: hits.
        for path in paths { _ = await Client.get(harness.url + "/" + path) }
        #expect(server.totalGets == 3)
    }

    /// A path below a listed directory that the list does not name yet (or any more) goes
    /// to the upstream on every request: its cached copy vouches for nothing.
    @Test func coveredButUnlistedPathsAskTheUpstream() async throws {
        let tree = try UpstreamTree()
        let first = try tree.file("k/new.rpm", size: 3000, seed: 1)
        let server = try ThrottledFileServer(root: tree.root)
        let harness = try await CacheHarness(upstreams: [server], listed: HandListed(covering: "k/"))
        defer { Task { await harness.stop() } }
        #expect(await Client.get(harness.url + "/k/new.rpm").body == first)
        let second = try tree.file("k/new.rpm", size: 3000, seed: 2)
        #expect(await Client.get(harness.url + "/k/new.rpm").body == second)
        #expect(server.gets("/k/new.rpm") == 2)
        try tree.tree.remove("k/new.rpm")
        #expect(await Client.get(harness.url + "/k/new.rpm").status == 404)
        #expect(harness.stored("k/new.rpm") == nil)
    }

    @Test func invalidateDropsExactlyTheNamedPaths() async throws {
        let tree = try UpstreamTree()
        let names = ["g/a.rpm", "g/b.rpm", "g/c.rpm", "g/d.rpm"]
        for name in names { try tree.file(name, size: 1000) }
        let server = try ThrottledFileServer(root: tree.root)
        let harness = try await CacheHarness(upstreams: [server], listed: HandListed())
        defer { Task { await harness.stop() } }
        for name in names { _ = await Client.get(harness.url + "/" + name) }
        #expect(names.allSatisfy { harness.stored($0) != nil })
        harness.cache.invalidate(ListGeneration(generation: 2, changed: ["g/a.rpm"], removed: ["g/c.rpm"]))
        #expect(harness.stored("g/a.rpm") == nil)
        #expect(harness.stored("g/b.rpm") != nil)
        #expect(harness.stored("g/c.rpm") == nil)
        #expect(harness.stored("g/d.rpm") != nil)
        server.resetCounts()
        for name in names { _ = await Client.get(harness.url + "/" + name) }
        #expect(server.gets("/g/a.rpm") == 1 && server.gets("/g/c.rpm") == 1 && server.totalGets == 2)
    }

    /// A body whose checksum is not the list's: the client's connection is cut before the
    /// end, and nothing is stored.
    @Test func checksumMismatchIsNotStoredNorCompleted() async throws {
        let tree = try UpstreamTree()
        try tree.file("h/repodata/repomd.xml", size: 5000)
        let listed = HandListed()
        listed.set(
            "h/repodata/repomd.xml",
            ListedFile(mtime: 1_700_000_000, size: 5000, sha256: String(repeating: "0", count: 64)))
        let server = try ThrottledFileServer(root: tree.root)
        let harness = try await CacheHarness(upstreams: [server], listed: listed)
        defer { Task { await harness.stop() } }
        let answer = await Client.get(harness.url + "/h/repodata/repomd.xml")
        #expect(!answer.complete)
        #expect(answer.body.count < 5000)
        #expect(harness.stored("h/repodata/repomd.xml") == nil)
    }

    @Test func prefetchWarmsMatchingChangedPaths() async throws {
        let tree = try UpstreamTree()
        try tree.file("p/repodata/primary.xml.gz", size: 4000)
        try tree.file("p/Packages/x.rpm", size: 4000)
        let server = try ThrottledFileServer(root: tree.root)
        let harness = try await CacheHarness(upstreams: [server], listed: HandListed()) {
            $0.prefetchPattern = "repodata/"
        }
        defer { Task { await harness.stop() } }
        harness.cache.apply(
            ListGeneration(generation: 1, changed: ["p/repodata/primary.xml.gz", "p/Packages/x.rpm"], removed: []))
        for _ in 0..<100 where harness.stored("p/repodata/primary.xml.gz") == nil {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(harness.stored("p/repodata/primary.xml.gz") != nil)
        #expect(server.gets("/p/Packages/x.rpm") == 0)
        _ = await Client.get(harness.url + "/p/repodata/primary.xml.gz")
        #expect(server.gets("/p/repodata/primary.xml.gz") == 1)
    }
}
