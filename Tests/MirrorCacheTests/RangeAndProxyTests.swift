import Foundation
import MirrorCache
import Testing
import TreeFixtures

/// Issue 11, item 4 (and HEAD, CONNECT): ranges on complete and growing files, the
/// forward proxy through curl.
@Suite("Ranges, HEAD and the forward proxy", .serialized, .ownThread)
struct RangeAndProxyTests {
    /// Hits whole and in part, of a file sent by sendfile (1 MB) and of one copied into
    /// the response with its head (20 kB, under the 64 KiB limit).
    @Test(arguments: [1_000_000, 20_000])
    func rangeOnCompleteFile(size: Int) async throws {
        let tree = try UpstreamTree()
        let origin = try tree.file("iso/x.iso", size: size)
        let server = try ThrottledFileServer(root: tree.root)
        let harness = try await CacheHarness(upstreams: [server])
        defer { Task { await harness.stop() } }
        _ = await Client.get(harness.url + "/iso/x.iso", keep: false)
        harness.settle()
        let whole = await Client.get(harness.url + "/iso/x.iso")
        #expect(whole.status == 200 && whole.body == origin && whole.headers["content-length"] == "\(size)")
        let head = await Client.get(harness.url + "/iso/x.iso", method: .HEAD)
        #expect(head.status == 200 && head.body.isEmpty && head.headers["content-length"] == "\(size)")
        let closing = await Client.get(harness.url + "/iso/x.iso", headers: ["Connection": "close"])
        #expect(closing.status == 200 && closing.body == origin)
        let part = await Client.get(harness.url + "/iso/x.iso", headers: ["Range": "bytes=1000-1999"])
        #expect(part.status == 206)
        #expect(part.body == Array(origin[1000..<2000]))
        #expect(part.headers["content-range"] == "bytes 1000-1999/\(size)")
        let tail = await Client.get(harness.url + "/iso/x.iso", headers: ["Range": "bytes=-10"])
        #expect(tail.status == 206 && tail.body == Array(origin.suffix(10)))
        let beyond = await Client.get(harness.url + "/iso/x.iso", headers: ["Range": "bytes=2000000-"])
        #expect(beyond.status == 416)
        #expect(server.gets("/iso/x.iso") == 1)
        #expect(harness.cache.metricsText.contains("mirror_cache_hits_total 6"), "\(harness.cache.metricsText)")
    }

    @Test func rangeOnFileStillDownloading() async throws {
        let tree = try UpstreamTree()
        let origin = try tree.file("iso/slow.iso", size: 2_000_000)
        let server = try ThrottledFileServer(root: tree.root)
        server.throttle(bytesPerSecond: 1_000_000)
        let harness = try await CacheHarness(upstreams: [server])
        defer { Task { await harness.stop() } }
        async let whole = Client.get(harness.url + "/iso/slow.iso", keep: false)
        try await Task.sleep(for: .milliseconds(300))
        let part = await Client.get(harness.url + "/iso/slow.iso", headers: ["Range": "bytes=1500000-1500999"])
        let done = await whole
        #expect(part.status == 206)
        #expect(part.body == Array(origin[1_500_000..<1_501_000]))
        #expect(done.status == 200 && done.sha256 == Client.sha256(origin))
        #expect(server.gets("/iso/slow.iso") == 1, "the range request joined the fetch in progress")
    }

    @Test func headGivesTheFieldsWithoutBody() async throws {
        let tree = try UpstreamTree()
        let origin = try tree.file("a/b.rpm", size: 12345)
        let server = try ThrottledFileServer(root: tree.root)
        let harness = try await CacheHarness(upstreams: [server])
        defer { Task { await harness.stop() } }
        let miss = await Client.get(harness.url + "/a/b.rpm", method: .HEAD)
        #expect(miss.status == 200 && miss.body.isEmpty && miss.headers["content-length"] == "12345")
        _ = await Client.get(harness.url + "/a/b.rpm")
        let hit = await Client.get(harness.url + "/a/b.rpm", method: .HEAD)
        #expect(hit.status == 200 && hit.body.isEmpty && hit.headers["content-length"] == "\(origin.count)")
    }

    @Test func forwardProxyThroughCurl() async throws {
        let tree = try UpstreamTree()
        let origin = try tree.file("fedora/repo/p.rpm", size: 200_000)
        let server = try ThrottledFileServer(root: tree.root)
        let harness = try await CacheHarness(upstreams: [server])
        defer { Task { await harness.stop() } }
        let scratch = try TemporaryTree("proxy-out")
        for round in 0..<2 {
            let output = scratch.path("p\(round).rpm")
            let status = Command.runShell(
                "curl --max-time 30 -sSf --noproxy '' -x http://127.0.0.1:\(harness.port) http://127.0.0.1:\(server.port)/fedora/repo/p.rpm -o \(output)"
            )
            #expect(status == 0)
            #expect(try scratch.read("p\(round).rpm") == origin)
        }
        #expect(server.gets("/fedora/repo/p.rpm") == 1)
        let stored = FileManager.default.contents(
            atPath: harness.directory + "/proxy/127.0.0.1:\(server.port)/fedora/repo/p.rpm")
        #expect(stored.map { Array($0) } == origin)
    }

    @Test func connectIsRefusedWithTheReason() async throws {
        let tree = try UpstreamTree()
        let server = try ThrottledFileServer(root: tree.root)
        let harness = try await CacheHarness(upstreams: [server])
        defer { Task { await harness.stop() } }
        let answer = try Client.raw(
            port: harness.port, "CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\nConnection: close\r\n\r\n"
        )
        let statusLine = answer.prefix { $0 != "\r\n" }
        #expect(statusLine.hasPrefix("HTTP/1.1 405"))
        #expect(statusLine.contains("reverse URL"))
        let curl = Command.runShell(
            "curl --max-time 30 -s --noproxy '' -x http://127.0.0.1:\(harness.port) https://127.0.0.1:\(server.port)/x -o /dev/null"
        )
        #expect(curl != 0)
    }
}
