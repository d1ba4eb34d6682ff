import Foundation
import MirrorCache
import Testing
import TreeFixtures

#if canImport(Glibc)
    import Glibc
#endif

/// Issue 11, item 3: cut and stalled upstreams, fail-over, a full disk, an upstream
/// down, access, and paths that try to leave the cache directory.
@Suite("Faults", .serialized, .ownThread)
struct FaultTests {
    @Test func cutFetchResumesFromTheSameUpstream() async throws {
        let tree = try UpstreamTree()
        let origin = try tree.file("iso/cut.iso", size: 3_000_000)
        let server = try ThrottledFileServer(root: tree.root)
        server.cut("/iso/cut.iso", atOffset: 1_000_000)
        let harness = try await CacheHarness(upstreams: [server])
        defer { Task { await harness.stop() } }
        let answer = await Client.get(harness.url + "/iso/cut.iso", keep: false)
        #expect(answer.status == 200 && answer.complete && answer.sha256 == Client.sha256(origin))
        #expect(server.gets("/iso/cut.iso") == 2, "one GET, one resume with Range")
        #expect(harness.stored("iso/cut.iso") == origin)
    }

    @Test func stalledUpstreamFailsOverToTheNext() async throws {
        let tree = try UpstreamTree()
        let origin = try tree.file("iso/stall.iso", size: 2_000_000)
        let first = try ThrottledFileServer(root: tree.root)
        let second = try ThrottledFileServer(root: tree.root)
        first.stall("/iso/stall.iso", afterBytes: 700_000)
        let harness = try await CacheHarness(upstreams: [first, second]) { $0.stallTimeout = .milliseconds(500) }
        defer { Task { await harness.stop() } }
        let answer = await Client.get(harness.url + "/iso/stall.iso", keep: false)
        #expect(answer.status == 200 && answer.complete && answer.sha256 == Client.sha256(origin))
        #expect(first.gets("/iso/stall.iso") == 1)
        #expect(second.gets("/iso/stall.iso") == 1, "the rest came from the second upstream")
        #expect(harness.stored("iso/stall.iso") == origin)
    }

    @Test func downUpstreamFailsOverBeforeTheFirstByte() async throws {
        let tree = try UpstreamTree()
        let origin = try tree.file("a.rpm", size: 50_000)
        let down = try ThrottledFileServer(root: tree.root)
        down.setDown(true)
        let up = try ThrottledFileServer(root: tree.root)
        let harness = try await CacheHarness(upstreams: [down, up])
        defer { Task { await harness.stop() } }
        let answer = await Client.get(harness.url + "/a.rpm")
        #expect(answer.status == 200 && answer.body == origin)
    }

    /// An upstream that keeps cutting the body: the client sees its connection end, not a
    /// short 200, and nothing is stored, now or on the next request.
    @Test func truncatedBodyIsNeverStoredNorServedComplete() async throws {
        let tree = try UpstreamTree()
        _ = try tree.file("iso/broken.iso", size: 1_000_000)
        let server = try ThrottledFileServer(root: tree.root)
        server.cut("/iso/broken.iso", atOffset: 400_000, times: 100)
        let harness = try await CacheHarness(upstreams: [server])
        defer { Task { await harness.stop() } }
        for _ in 0..<2 {
            let answer = await Client.get(harness.url + "/iso/broken.iso", keep: false)
            #expect(!(answer.status == 200 && answer.complete), "a cut body must not look complete")
            #expect(harness.stored("iso/broken.iso") == nil)
        }
        try await Task.sleep(for: .milliseconds(200))
        #expect(harness.partialFiles().isEmpty)
    }

    /// A cache directory on a 2 MiB tmpfs: a file larger than the disk passes through;
    /// two files that fit alone but not together both reach their clients (one of them
    /// runs out of space mid-write and continues from the upstream), and a stored copy is
    /// never a wrong one.
    @Test func fullDiskStillServes() async throws {
        let mountPoint = try TemporaryTree("tmpfs")
        guard Command.runShell("mount -t tmpfs -o size=2m mirror-cache-test \(mountPoint.root)") == 0 else {
            Issue.record("cannot mount a tmpfs (the test needs root)")
            return
        }
        defer { _ = Command.runShell("umount -l \(mountPoint.root)") }
        let tree = try UpstreamTree()
        let huge = try tree.file("huge.iso", size: 3_000_000)
        let a = try tree.file("a.iso", size: 1_300_000, seed: 2)
        let b = try tree.file("b.iso", size: 1_300_000, seed: 3)
        let c = try tree.file("c.iso", size: 1_300_000, seed: 4)
        let server = try ThrottledFileServer(root: tree.root)
        let harness = try await CacheHarness(upstreams: [server], cacheDirectory: mountPoint.root + "/cache")
        defer { Task { await harness.stop() } }

        let passed = await Client.get(harness.url + "/huge.iso", keep: false)
        #expect(passed.status == 200 && passed.complete && passed.sha256 == Client.sha256(huge))
        #expect(harness.stored("huge.iso") == nil)

        server.throttle(bytesPerSecond: 2_000_000)
        async let first = Client.get(harness.url + "/a.iso", keep: false)
        async let second = Client.get(harness.url + "/b.iso", keep: false)
        let (gotA, gotB) = await (first, second)
        #expect(gotA.status == 200 && gotA.complete && gotA.sha256 == Client.sha256(a))
        #expect(gotB.status == 200 && gotB.complete && gotB.sha256 == Client.sha256(b))
        let storedA = harness.stored("a.iso")
        let storedB = harness.stored("b.iso")
        #expect(storedA == nil || storedA == a)
        #expect(storedB == nil || storedB == b)
        #expect(storedA == nil || storedB == nil, "both cannot fit")

        server.throttle(bytesPerSecond: nil)
        try await Task.sleep(for: .milliseconds(200))
        let gotC = await Client.get(harness.url + "/c.iso", keep: false)
        #expect(gotC.status == 200 && gotC.sha256 == Client.sha256(c))
        #expect(harness.stored("c.iso") == c, "room was made by evicting")
        #expect(harness.partialFiles().isEmpty)
    }

    /// Over --max-size, the least recently used file goes to make room for a new one; an
    /// evicted small file is not served from memory afterwards either.
    @Test(arguments: [400_000, 20_000])
    func maxSizeEvictsLeastRecentlyUsed(size: Int) async throws {
        let tree = try UpstreamTree()
        let names = ["a.rpm", "b.rpm", "c.rpm"]
        var bodies: [String: [UInt8]] = [:]
        for (index, name) in names.enumerated() { bodies[name] = try tree.file(name, size: size, seed: UInt64(index)) }
        let server = try ThrottledFileServer(root: tree.root)
        let harness = try await CacheHarness(upstreams: [server]) { $0.maxSize = Int64(size) * 5 / 2 }
        defer { Task { await harness.stop() } }
        // Hits on b then a (small ones are then in memory): a is more recent than b when c comes.
        for name in ["a.rpm", "b.rpm", "b.rpm", "a.rpm", "c.rpm"] {
            #expect(await Client.get(harness.url + "/" + name).body == bodies[name])
            harness.settle()
        }
        #expect(harness.stored("a.rpm") != nil)
        #expect(harness.stored("b.rpm") == nil, "the least recently used")
        #expect(harness.stored("c.rpm") != nil)
        #expect(harness.cache.metricsText.contains("mirror_cache_evictions_total 1"))
        #expect(await Client.get(harness.url + "/b.rpm").body == bodies["b.rpm"])
        #expect(server.gets("/b.rpm") == 2, "the evicted copy was fetched again, not served from memory")
    }

    @Test func upstreamDownServesCachedCopies() async throws {
        let tree = try UpstreamTree()
        let package = try tree.file("repo/p.rpm", size: 100_000)
        let metadata = try tree.file("repo/repodata/repomd.xml", size: 3000)
        let server = try ThrottledFileServer(root: tree.root)
        let harness = try await CacheHarness(upstreams: [server]) { $0.volatileTTL = 0 }
        defer { Task { await harness.stop() } }
        #expect(await Client.get(harness.url + "/repo/p.rpm").body == package)
        #expect(await Client.get(harness.url + "/repo/repodata/repomd.xml").body == metadata)
        // The copies' age counts from their commit, which a loaded machine finishes after
        // the response: without this wait the next request found a copy not yet 1 s old.
        harness.settle()
        try await Task.sleep(for: .seconds(1.1))
        // Revalidated (the TTL is 0): the upstream says 304.
        let revalidated = await Client.get(harness.url + "/repo/repodata/repomd.xml")
        #expect(revalidated.status == 200 && revalidated.body == metadata)
        #expect(server.gets("/repo/repodata/repomd.xml") == 2)
        server.setDown(true)
        try await Task.sleep(for: .seconds(1.1))
        let package2 = await Client.get(harness.url + "/repo/p.rpm")
        let metadata2 = await Client.get(harness.url + "/repo/repodata/repomd.xml")
        #expect(package2.status == 200 && package2.body == package)
        #expect(metadata2.status == 200 && metadata2.body == metadata, "stale, but what there is")
        #expect(harness.cache.metricsText.contains("mirror_cache_stale_served_total 1"))
    }

    @Test func clientOutsideAllowGetsForbidden() async throws {
        let tree = try UpstreamTree()
        _ = try tree.file("x.rpm", size: 10)
        let server = try ThrottledFileServer(root: tree.root)
        let harness = try await CacheHarness(upstreams: [server]) { $0.allow = [try! AddressRange("127.0.0.1/32")] }
        defer { Task { await harness.stop() } }
        let request = "GET /x.rpm HTTP/1.1\r\nHost: cache\r\nConnection: close\r\n\r\n"
        let outside = try Client.raw(port: harness.port, request, from: "127.0.0.2")
        #expect(outside.hasPrefix("HTTP/1.1 403"))
        let inside = try Client.raw(port: harness.port, request, from: "127.0.0.1")
        #expect(inside.hasPrefix("HTTP/1.1 200"))
        #expect(server.gets("/x.rpm") == 1)
        let curl = Command.runShell(
            "test \"$(curl --max-time 30 -s --noproxy '' --interface 127.0.0.2 -o /dev/null -w '%{http_code}' http://127.0.0.1:\(harness.port)/x.rpm)\" = 403"
        )
        #expect(curl == 0)
    }

    /// Escapes, plain and encoded: refused before any file is opened, nothing asked
    /// upstream, nothing written beside the cache directory.
    @Test(arguments: [
        "/../secret", "/%2e%2e/secret", "/%2E%2E/%2e%2e/secret", "/a/..%2f..%2fsecret", "/a/%2f..%2f..%2fsecret",
        "/./secret", "/a/%00b", "http://127.0.0.1:1/../secret", "http://../secret",
    ])
    func escapesNeverLeaveTheCache(_ target: String) async throws {
        let parent = try TemporaryTree("escape")
        let secret = try parent.file("secret", "do not serve\n")
        let tree = try UpstreamTree()
        _ = try tree.file("secret", size: 10)
        let server = try ThrottledFileServer(root: tree.root)
        let harness = try await CacheHarness(upstreams: [server], cacheDirectory: parent.path("cache"))
        defer { Task { await harness.stop() } }
        let before = try parent.names()
        let answer = try Client.raw(
            port: harness.port, "GET \(target) HTTP/1.1\r\nHost: cache\r\nConnection: close\r\n\r\n")
        #expect(answer.hasPrefix("HTTP/1.1 403") || answer.hasPrefix("HTTP/1.1 400"), "\(target): \(answer.prefix(40))")
        #expect(!answer.contains("do not serve"))
        #expect(server.totalGets == 0)
        #expect(try parent.names() == before)
        #expect(FileManager.default.contents(atPath: secret).map { Array($0) } == Array("do not serve\n".utf8))
    }
}
