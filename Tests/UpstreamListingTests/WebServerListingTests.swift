import Foundation
import Testing
import TreeFixtures
import UpstreamListing

/// The listing against nginx serving a list file that the test rewrites: conditional
/// GETs every poll, gzip, and a malformed list that must not replace the good one.
@Suite("the upstream's lists, read from a plain web server", .ownThread)
struct WebServerListingTests {
    static let listPath = "fedora/linux/fullfiletimelist-fedora"
    static let firstTime = 1_700_000_000

    /// The lists of `ListedLinesTests`, served below `fedora/linux/`.
    static func started() async throws -> (StaticWebServer, RunningListing) {
        let server = try StaticWebServer()
        try server.publish(listPath, ListedLinesTests.old.text, mtime: firstTime)
        let running = try RunningListing(
            listServer: server.base, lists: [listPath], pollInterval: .milliseconds(200))
        let listing = running.listing
        try #require(
            running.wait { listing.listed("fedora/linux/releases/40/same.rpm") != nil },
            "\(running.log.all)\n\(server.errorLog)")
        return (server, running)
    }

    static func requests(_ server: StaticWebServer, status: Int) -> Int {
        server.accessLog.filter { $0 == "GET /\(listPath) \(status)" }.count
    }

    @Test("the first list is read whole and gzip-compressed; polls without a change are 304s and no generation")
    func conditionalPolls() async throws {
        let (server, running) = try await Self.started()
        let listing = running.listing
        #expect(listing.listed("fedora/linux/releases/40/same.rpm") == ListedFile(mtime: 100, size: 10))
        #expect(
            listing.listed("fedora/linux/releases/40/repodata/repomd.xml")
                == ListedFile(mtime: 100, size: 9, sha256: ListedLinesTests.repomdDigest))
        for unlisted in ["fedora/linux/releases/40", "fedora/linux/releases/latest", "releases/40/same.rpm"] {
            #expect(listing.listed(unlisted) == nil, "\(unlisted)")
        }
        #expect(listing.isCovered("fedora/linux/releases/41/anything.rpm"))
        #expect(!listing.isCovered("fedora/linuxx/releases/40/same.rpm"))
        #expect(!listing.isCovered("epel/9/x.rpm"))
        let loaded = running.log.matching("list loaded")
        #expect(loaded.count == 1 && loaded.first?.metadata["transfer"]?.contains("gzip") == true, "\(loaded)")

        #expect(running.wait { Self.requests(server, status: 304) >= 3 }, "\(server.accessLog)")
        #expect(Self.requests(server, status: 200) == 1, "\(server.accessLog)")
        #expect(running.generations.isEmpty)
        // A web server has no /changes: a list whose ETag is no SHA-256 is never asked for a delta.
        #expect(!server.accessLog.contains { $0.contains("/changes") })
    }

    @Test("a rewritten list's next generation names exactly the paths whose line changed; listed follows")
    func nextGeneration() async throws {
        let (server, running) = try await Self.started()
        let listing = running.listing
        try server.publish(Self.listPath, ListedLinesTests.new.text, mtime: Self.firstTime + 10)
        let generations = await running.generations(after: 0, covering: 9)
        try #require(generations.count == 1, "\(generations)")
        let prefix = "fedora/linux/releases/"
        #expect(
            Set(generations[0].changed)
                == Set(
                    [
                        "40/rewritten.rpm", "40/grown.rpm", "40/became-file", "repointed", "40/restricted.rpm",
                        "40/repodata/resummed.xml", "40/added.rpm",
                    ].map { prefix + $0 }))
        #expect(generations[0].changed.count == 7)
        #expect(Set(generations[0].removed) == Set(["40/deleted.rpm", "40/became-directory"].map { prefix + $0 }))
        #expect(generations[0].removed.count == 2)
        #expect(generations[0].generation == 1)

        #expect(listing.listed(prefix + "40/rewritten.rpm") == ListedFile(mtime: 200, size: 10))
        #expect(listing.listed(prefix + "40/grown.rpm") == ListedFile(mtime: 100, size: 11))
        #expect(listing.listed(prefix + "40/added.rpm") == ListedFile(mtime: 200, size: 5))
        #expect(listing.listed(prefix + "40/became-file") == ListedFile(mtime: 200, size: 3))
        #expect(listing.listed(prefix + "40/deleted.rpm") == nil)
        #expect(listing.listed(prefix + "40/became-directory") == nil)
        #expect(listing.listed(prefix + "40/same.rpm") == ListedFile(mtime: 100, size: 10))
        let installed = running.log.matching("list generation installed")
        #expect(installed.count == 1)
        #expect(installed.first?.metadata["changed"] == "7" && installed.first?.metadata["removed"] == "2")
        #expect(installed.first?.metadata["list"] == Self.listPath)
    }

    @Test("a malformed list leaves the previous lines in place and logs the list and the line")
    func malformedList() async throws {
        let (server, running) = try await Self.started()
        let listing = running.listing
        let good = ListedLinesTests.old.text
        let broken = good.replacingOccurrences(
            of: "100\tf\t10\treleases/40/grown.rpm", with: "100\tf\tbig\treleases/40/grown.rpm")
        try #require(broken != good)
        let line =
            try #require(
                broken.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains("big") }) + 1
        try server.publish(Self.listPath, broken, mtime: Self.firstTime + 20)

        #expect(
            running.wait { !running.log.matching("malformed list refused; keeping the previous version").isEmpty }
        )
        let refusal = try #require(running.log.matching("malformed list refused; keeping the previous version").first)
        #expect(refusal.level == .error)
        #expect(refusal.metadata["list"] == Self.listPath)
        #expect(refusal.metadata["line"] == String(line))
        #expect(
            refusal.metadata["error"]?.contains("\(server.base)/\(Self.listPath): line \(line)") == true, "\(refusal)")
        #expect(listing.listed("fedora/linux/releases/40/grown.rpm") == ListedFile(mtime: 100, size: 10))
        #expect(listing.listed("fedora/linux/releases/40/deleted.rpm") == ListedFile(mtime: 100, size: 10))
        try await Task.sleep(for: .milliseconds(500))
        #expect(running.generations.isEmpty)

        // Mended upstream: the next good list is compared with the last good one.
        try server.publish(Self.listPath, ListedLinesTests.new.text, mtime: Self.firstTime + 30)
        let generations = await running.generations(after: 0, covering: 9)
        #expect(
            generations.count == 1 && generations.first?.changed.count == 7 && generations.first?.removed.count == 2)
    }

    @Test("an upstream that is down, then has no list, is logged naming the URL; the list loads once it is there")
    func unreachableThenServed() async throws {
        let port = try LoopbackSocket.closedPort()
        // AsyncHTTPClient tries to connect again until the request's deadline.
        let running = try RunningListing(
            listServer: "http://127.0.0.1:\(port)", lists: [Self.listPath], pollInterval: .milliseconds(200),
            requestTimeout: .seconds(2))
        let listing = running.listing
        let url = "http://127.0.0.1:\(port)/\(Self.listPath)"
        @Sendable func failures() -> [CapturedLog.Record] { running.log.matching("list not refreshed") }
        #expect(
            running.wait {
                failures().contains { $0.metadata["error"]?.contains("cannot fetch \(url)") == true }
            },
            "\(running.log.all)")
        #expect(listing.listed("fedora/linux/releases/40/same.rpm") == nil)
        #expect(listing.isCovered("fedora/linux/releases/40/same.rpm"))

        let server = try StaticWebServer(port: port)
        #expect(running.wait { failures().contains { $0.metadata["error"]?.contains("HTTP 404") == true } })
        try server.publish(Self.listPath, ListedLinesTests.old.text, mtime: Self.firstTime)
        #expect(
            running.wait {
                listing.listed("fedora/linux/releases/40/same.rpm") == ListedFile(mtime: 100, size: 10)
            })
        #expect(running.generations.isEmpty)
    }
}
