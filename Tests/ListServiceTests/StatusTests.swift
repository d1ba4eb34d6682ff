import FileList
import Foundation
import Hummingbird
import ListProtocol
@testable import ListService
import Logging
import Publish
import Testing
import TreeFixtures

#if canImport(Glibc)
    import Glibc
#endif

/// `GET /status`, the status page and the announcement a client's ETags name, on
/// catalogs filled in-process: an origin's (its publisher's generations) and a relay's
/// (lists it adopts, announcements it hears from its upstream).
@Suite("Status", .ownThread)
struct StatusTests {
    static func status(_ ask: Ask) async throws -> ServerStatus {
        let answer = try await ask("/status", .get, [:])
        #expect(answer.status == 200)
        #expect(answer.headers["content-type"] == "application/json")
        return try ServerStatus(validating: answer.body)
    }

    static func seconds(_ text: String?) -> Double { text.flatMap { InternetTime.seconds(from: $0) } ?? -1 }

    @Test("at the origin: its own generation is the origin's, published and installed at once, lag 0")
    func origin() async throws {
        let lists = try PublishedLists()
        let first = try lists.publish(PublishedLists.content(), generation: 1)
        let second = try lists.publish(PublishedLists.content(touched: 3), generation: 2)
        try await lists.asking(.router) { ask in
            let status = try await Self.status(ask)
            #expect(status.server == "origin.test" && status.role == "origin" && status.generation == 2)
            #expect(status.origin?.name == "origin.test" && status.origin?.generation == 2)
            #expect(status.installed == status.origin?.published)
            #expect(status.lagSeconds == 0 && status.upstream == nil && status.subscribers == 0)
            #expect(status.route.map(\.host) == ["origin.test"])
            #expect(status.recent.map(\.generation) == [1, 2])
            #expect(status.recent.allSatisfy { $0.installed == $0.published })
            let list = try #require(status.lists.first)
            #expect(list.path == PublishedLists.list && list.etag == "\"\(second)\"" && list.generation == 2)
            #expect(list.size == PublishedLists.content(touched: 3).count && first != second)
            #expect(abs(Self.seconds(list.installed) - Self.seconds(status.installed)) < 1)
            // The list never published is not served, so not listed.
            #expect(status.lists.count == 1)
            let now = Date().timeIntervalSince1970
            #expect(abs(Self.seconds(status.now) - now) < 5)
        }
        // The entries are counted as the gzip form is made, after the announcement.
        let deadline = ContinuousClock.now + .seconds(10)
        var entries: Int?
        while entries == nil && ContinuousClock.now < deadline {
            entries = try await lists.asking(.router) { ask in try await Self.status(ask).lists.first?.entries }
            if entries == nil { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(entries == PublishedLists.fileCount + 1)
    }

    @Test("entry lines: a time list's [Files] lines, a path list's ./ lines, nothing else")
    func entryLines() {
        let timeList = PublishedLists.content()
        #expect(EntryLines.count(in: timeList) == PublishedLists.fileCount + 1)
        #expect(EntryLines.count(in: Array("./a\n./b/c\n.hidden\n\n".utf8)) == 2)
        #expect(EntryLines.count(in: Array("[Checksums SHA1]\nabc\tpub/x\n".utf8)) == 0)
    }

    @Test("a relay: lag grows from the origin's publishing while it lacks a generation, and is 0 once it holds it")
    func relay() async throws {
        let relay = try RelayCatalog()
        let first = try relay.adopt(PublishedLists.content(), generation: 1, upstream: [
            Hop(host: "origin", generation: 5, announced: Date().addingTimeInterval(-10))
        ])
        var status = try await relay.status()
        #expect(status.role == "relay" && status.origin?.name == "origin" && status.origin?.generation == 5)
        #expect(status.lagSeconds == 0 && status.route.map(\.host) == ["origin", "tier1"])

        // The upstream announces generation 6, published 3 s ago; the relay does not hold it.
        let nextBytes = PublishedLists.content(touched: 7)
        let next = ListDigest.hex(of: nextBytes)
        let published = Date().addingTimeInterval(-3)
        relay.catalog.heard(
            Announcement(
                generation: 6, lists: [PublishedLists.list: "\"\(next)\""],
                hops: [Hop(host: "origin", generation: 6, announced: published)]))
        let asked = Date().timeIntervalSince1970
        status = try await relay.status()
        #expect(status.origin?.generation == 5)
        #expect(abs(status.lagSeconds - (asked - published.timeIntervalSince1970)) < 0.1, "\(status.lagSeconds)")
        #expect(status.recent.map(\.generation) == [5, 6] && status.recent[1].installed == nil)
        let figures = relay.catalog.originFigures
        #expect(figures.generation == 5 && figures.lag > 2.9)

        // quick-mirror installs it and says nothing of where it came from: the relay knows
        // it by its ETag, and announces it with the upstream's hops.
        let announced = try #require(try relay.adopt(nextBytes, generation: 2, upstream: []))
        #expect(announced.hops.map(\.host) == ["origin", "tier1"] && announced.hops[0].generation == 6)
        status = try await relay.status()
        #expect(status.origin?.generation == 6 && status.lagSeconds == 0)
        #expect(status.recent.last?.installed == status.installed && status.installed == announced.hops[1].announced)
        #expect(first?.generation == 1)
    }

    @Test("a relay started after its lists were installed holds the upstream generation that names them")
    func relayRestarted() async throws {
        let relay = try RelayCatalog()
        let bytes = PublishedLists.content()
        try relay.adopt(bytes, generation: 1, upstream: [])
        var status = try await relay.status()
        // Until its upstream says otherwise, a relay with no hops is its own origin.
        #expect(status.origin?.name == "tier1")
        relay.catalog.heard(
            Announcement(
                generation: 40, lists: [PublishedLists.list: "\"\(ListDigest.hex(of: bytes))\"", "other": "\"x\""],
                hops: [Hop(host: "origin", generation: 40, announced: Date().addingTimeInterval(-100))]))
        status = try await relay.status()
        #expect(status.origin?.name == "origin" && status.origin?.generation == 40 && status.lagSeconds == 0)

        // The origin restarts: its generations count from 1 again, later in time.
        relay.catalog.heard(
            Announcement(
                generation: 1, lists: [PublishedLists.list: "\"other\""],
                hops: [Hop(host: "origin", generation: 1, announced: Date().addingTimeInterval(-1))]))
        status = try await relay.status()
        #expect(status.recent.map(\.generation) == [1] && status.origin == nil)
        #expect(status.lagSeconds >= 0.9 && status.lagSeconds < 5)
    }

    @Test("recent keeps the last 256 origin generations, oldest first")
    func window() async throws {
        let relay = try RelayCatalog()
        try relay.adopt(PublishedLists.content(), generation: 1, upstream: [])
        let start = Date().addingTimeInterval(-1000)
        for generation in 1...300 {
            relay.catalog.heard(
                Announcement(
                    generation: generation, lists: [:],
                    hops: [Hop(host: "origin", generation: generation, announced: start.addingTimeInterval(Double(generation)))]))
        }
        let status = try await relay.status()
        #expect(status.recent.count == 256 && status.recent.first?.generation == 45 && status.recent.last?.generation == 300)
        // Nothing held is known: the lag runs from the oldest generation heard of.
        #expect(status.lagSeconds > 900)
    }

    @Test("the announcement a client's ETags name, even after a newer one")
    func announcementByETag() async throws {
        let lists = try PublishedLists()
        let first = try lists.publish(PublishedLists.content(), generation: 1)
        let second = try lists.publish(PublishedLists.content(touched: 1), generation: 2)
        try await lists.asking(.router) { ask in
            func generation(_ query: String) async throws -> (Int, Int?) {
                let answer = try await ask("/announcement\(query)", .get, [:])
                return (answer.status, try? Announcement(json: answer.text).generation)
            }
            let list = PublishedLists.list
            // Asked before each #expect: the macro does not carry a `try await` of a tuple
            // comparison out to this throwing closure.
            let current = try await generation("")
            let byFirst = try await generation("?list=\(list)&etag=\(first)")
            let bySecond = try await generation("?list=\(list)&etag=%22\(second)%22")
            let unknown = try await generation("?list=\(list)&etag=\(String(repeating: "0", count: 64))")
            let unpaired = try await generation("?list=\(list)")
            #expect(current == (200, 2) && byFirst == (200, 1) && bySecond == (200, 2))
            #expect(unknown.0 == 404 && unpaired.0 == 400)
        }
    }

    @Test("the status page: HTML for a browser, escaped names, no external asset; a 404 for others")
    func page() async throws {
        let relay = try RelayCatalog()
        try relay.adopt(
            PublishedLists.content(), generation: 1,
            upstream: [Hop(host: "<script>alert(1)</script>", generation: 3, announced: Date().addingTimeInterval(-2))])
        try await relay.asking { ask in
            let page = try await ask("/", .get, [.accept: "text/html,application/xhtml+xml;q=0.9"])
            #expect(page.status == 200 && page.headers["content-type"] == "text/html; charset=utf-8")
            #expect(page.text.contains(PublishedLists.list) && page.text.contains("tier1"))
            #expect(page.text.contains("&lt;script&gt;") && !page.text.contains("<script>"))
            #expect(page.text.contains("<svg") && !page.text.contains("src=") && !page.text.contains("http://"))
            #expect(try await ask("/", .get, [:]).status == 404)
        }
    }

    @Test("/metrics shows the origin generation held and the lag")
    func metrics() async throws {
        let lists = try PublishedLists()
        try lists.publish(PublishedLists.content(), generation: 1)
        try await lists.asking(.router) { ask in
            let text = try await ask("/metrics", .get, [:]).text
            #expect(text.contains("filelistd_origin_generation 1"), "\(text)")
            #expect(text.contains("filelistd_upstream_lag_seconds 0"), "\(text)")
        }
    }
}

/// A relay's catalog: lists another program installs, adopted by the relay's publisher.
final class RelayCatalog: @unchecked Sendable {
    let tree: TemporaryTree
    let catalog: ListCatalog
    let publisher = ListPublisher(installer: ListInstaller { _ in })

    init() throws {
        tree = try TemporaryTree("relay-status")
        var logger = Logger(label: "status-tests")
        logger.logLevel = .error
        catalog = ListCatalog(lists: [PublishedLists.list], host: "tier1", logger: logger)
    }

    /// Installs `bytes` as the list (a rename, as quick-mirror does) and serves it.
    @discardableResult
    func adopt(_ bytes: [UInt8], generation: Int, upstream: [Hop]) throws -> Announcement? {
        let target = tree.path(PublishedLists.list)
        try Data(bytes).write(to: URL(fileURLWithPath: target + ".new"))
        guard rename(target + ".new", target) == 0 else { throw POSIXError(.EIO) }
        let version = try PublishedList.open(target)
        return catalog.install(
            Publication(generation: generation, files: [Publication.File(path: PublishedLists.list, list: version)]),
            upstream: upstream)
    }

    func application() -> some ApplicationProtocol {
        var logger = Logger(label: "status-tests")
        logger.logLevel = .error
        return ListServer.buildApplication(
            catalog: catalog, configuration: ListServer.Configuration(host: "127.0.0.1", port: 0), logger: logger)
    }

    func asking<T: Sendable>(_ body: @escaping @Sendable (Ask) async throws -> T) async throws -> T {
        try await application().test(.router) { client in
            try await body { path, method, headers in
                let response = try await client.executeRequest(uri: path, method: method, headers: headers, body: nil)
                var answer = Answer(status: Int(response.status.code), headers: [:], body: Array(buffer: response.body))
                for field in response.headers { answer.headers[field.name.canonicalName] = field.value }
                return answer
            }
        }
    }

    func status() async throws -> ServerStatus {
        try await asking { ask in try await StatusTests.status(ask) }
    }
}
