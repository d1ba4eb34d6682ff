import NIOCore
import Testing
import TreeFixtures

@testable import MirrorCache

#if canImport(Glibc)
    import Glibc
#endif

/// The memory that small hits are served from: bounded, and never holding bytes the
/// store has replaced or removed since they were read.
@Suite("Small objects kept in memory", .ownThread)
struct HotObjectsTests {
    static func object(_ size: Int, byte: UInt8 = 1) -> HotObjects.Object {
        var info = stat()
        info.st_size = off_t(size)
        return HotObjects.Object(
            info: info, body: ByteBuffer(repeating: byte, count: size), etag: "\"\(byte)-\(size)\"")
    }

    /// A gauge's value in Prometheus text.
    static func gauge(_ name: String, in text: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) }
    }

    @Test func theBudgetIsNeverExceededAndUsedObjectsOutlastUnusedOnes() {
        let hot = HotObjects(budget: 100_000)
        for index in 0..<5 { hot.insert("k\(index)", Self.object(16_384), read: 0, mark: hot.mark) }
        // k0 and k1 are hit; the rest are not.
        #expect(hot.lookup("k0", now: 1) != nil)
        #expect(hot.lookup("k1", now: 1) != nil)
        for index in 5..<40 {
            hot.insert("k\(index)", Self.object(16_384), read: 1, mark: hot.mark)
            #expect(hot.usage.bytes <= 100_000)
            #expect(hot.usage.bytes == hot.usage.count * 16_384)
            // Hit again after each insert, as a busy object is.
            _ = hot.lookup("k0", now: 1)
        }
        #expect(hot.lookup("k0", now: 2) != nil, "the object hit between sweeps stays")
        #expect(hot.lookup("k2", now: 2) == nil, "an object never hit went at the first sweep")
    }

    @Test func aBodyLargerThanTheBudgetIsNotKept() {
        let hot = HotObjects(budget: 10_000)
        hot.insert("big", Self.object(16_384), read: 0, mark: hot.mark)
        #expect(hot.lookup("big", now: 0) == nil)
        #expect(hot.usage.bytes == 0)
    }

    @Test func aDropDuringTheReadKeepsTheReadBytesOut() {
        let hot = HotObjects(budget: 1 << 20)
        let mark = hot.mark
        // The store renamed a new copy over the key (or evicted one) while the old copy
        // was being read: those bytes must not be served later.
        hot.drop("reverse/a.rpm")
        hot.insert("reverse/a.rpm", Self.object(100), read: 0, mark: mark)
        #expect(hot.lookup("reverse/a.rpm", now: 0) == nil)
        hot.insert("reverse/a.rpm", Self.object(100, byte: 2), read: 0, mark: hot.mark)
        #expect(hot.lookup("reverse/a.rpm", now: 0)?.object.body.getBytes(at: 0, length: 1) == [2])
    }

    @Test func aDropRemovesTheKeptBytes() {
        let hot = HotObjects(budget: 1 << 20)
        hot.insert("reverse/a.rpm", Self.object(100), read: 0, mark: hot.mark)
        hot.drop("reverse/a.rpm")
        #expect(hot.lookup("reverse/a.rpm", now: 0) == nil)
        #expect(hot.usage == (0, 0))
    }

    @Test func keptBytesAreReadAgainAfterTheirValidity() {
        let hot = HotObjects(budget: 1 << 20)
        hot.insert("reverse/a.rpm", Self.object(100), read: 1000, mark: hot.mark)
        #expect(hot.lookup("reverse/a.rpm", now: 1000 + HotObjects.validity - 1) != nil)
        #expect(hot.lookup("reverse/a.rpm", now: 1000 + HotObjects.validity) == nil)
        #expect(hot.usage.bytes == 0)
    }

    @Test func hitsMarkTheRecencyOrderOncePerInterval() {
        let hot = HotObjects(budget: 1 << 20)
        hot.insert("reverse/a.rpm", Self.object(100), read: 1000, mark: hot.mark)
        #expect(hot.lookup("reverse/a.rpm", now: 1001)?.touch == false, "read (and marked) just now")
        #expect(hot.lookup("reverse/a.rpm", now: 1000 + HotObjects.touchInterval)?.touch == true)
        #expect(hot.lookup("reverse/a.rpm", now: 1001 + HotObjects.touchInterval)?.touch == false)
    }

    @Test func aZeroBudgetKeepsNothing() {
        let hot = HotObjects(budget: 0)
        hot.insert("reverse/a.rpm", Self.object(100), read: 0, mark: hot.mark)
        #expect(!hot.isEnabled)
        #expect(hot.lookup("reverse/a.rpm", now: 0) == nil)
    }

    /// A volatile file the upstream replaced: once revalidated, the new copy is what a hit
    /// gets at once, not the bytes still kept from before.
    @Test func aReplacedCopyIsNotServedFromMemory() async throws {
        let tree = try UpstreamTree()
        let path = "/repo/repodata/repomd.xml"
        let old = try tree.file(String(path.dropFirst()), size: 3000, seed: 1)
        let server = try ThrottledFileServer(root: tree.root)
        let harness = try await CacheHarness(upstreams: [server]) { $0.volatileTTL = 1 }
        defer { Task { await harness.stop() } }
        #expect(await Client.get(harness.url + path).body == old)
        harness.settle()
        #expect(Self.gauge("mirror_cache_memory_objects", in: harness.cache.metricsText) == 0)
        #expect(await Client.get(harness.url + path).body == old, "a hit: the bytes are now kept in memory")
        let metrics = harness.cache.metricsText
        #expect(Self.gauge("mirror_cache_memory_objects", in: metrics) == 1, "\(metrics)")
        // What is allocated for the body: NIO rounds 3,000 bytes up to 4 KiB.
        #expect(Self.gauge("mirror_cache_memory_bytes", in: metrics) == 4096, "\(metrics)")
        let new = try tree.file(String(path.dropFirst()), size: 3100, seed: 2)
        try await Task.sleep(for: .seconds(2.2))
        #expect(await Client.get(harness.url + path).body == new, "past the TTL: revalidated, and replaced")
        harness.settle()
        // Validated just now, so fresh: a hit, which must read the new copy.
        #expect(await Client.get(harness.url + path).body == new)
        #expect(server.gets(path) == 2)
    }
}
