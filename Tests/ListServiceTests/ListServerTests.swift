import ListProtocol
import CompressNIO
import FileList
import Foundation
import Hummingbird
import NIOCore
import Testing
import TreeFixtures

#if canImport(Glibc)
    import Glibc
#endif

/// What a downstream mirror gets from `filelistd --http`, through the application the
/// daemon builds, on a catalog filled in-process: no binary is spawned.
@Suite("ListServer", .ownThread)
struct ListServerTests {
    static let list = "/" + PublishedLists.list

    @Test("a path that is no list, or climbs out of the served directory, is a 404", arguments: Route.allCases)
    func notAList(route: Route) async throws {
        let lists = try PublishedLists()
        try lists.tree.file("secret", "in the directory of the lists, but not a list\n")
        try lists.publish(PublishedLists.content(), generation: 1)
        try await lists.asking(route) { ask in
            let paths = [
                "/nothing", "/secret", "/pub", "/../secret", "/pub/../secret", "/pub/../fullfiletimelist",
                "/%2e%2e/secret", "/pub/%2E%2E/fullfiletimelist", "/fullfiletimelist%2f..%2fsecret", "/..%2fsecret",
                "/fullfiletimelist%00",
            ]
            for path in paths {
                let answer = try await ask(path, .get, [:])
                #expect(answer.status == 404, "GET \(path)")
                #expect(!answer.text.contains("not a list"), "GET \(path)")
                #expect(try await ask(path, .head, [:]).status == 404, "HEAD \(path)")
            }
            // The list itself is there: the 404s are about the paths.
            #expect(try await ask(Self.list, .get, [:]).status == 200)
        }
    }

    @Test("a list not read yet is a 503 with Retry-After, so a client comes back", arguments: Route.allCases)
    func notReadYet(route: Route) async throws {
        let lists = try PublishedLists()
        try await lists.asking(route) { ask in
            for path in [Self.list, "/" + PublishedLists.unread] {
                let answer = try await ask(path, .get, [:])
                #expect(answer.status == 503, "\(path)")
                #expect(answer.headers["retry-after"] == "5", "\(path)")
                #expect(try await ask(path, .get, [.ifNoneMatch: "*"]).status == 503, "\(path)")
            }
            try lists.publish(PublishedLists.content(), generation: 1)
            #expect(try await ask(Self.list, .get, [:]).status == 200)
            // The other list is still not there.
            #expect(try await ask("/" + PublishedLists.unread, .get, [:]).status == 503)
        }
    }

    @Test(
        "a list is served whole with its SHA-256 as ETag, and a poll that names it gets a 304",
        arguments: Route.allCases)
    func wholeListAndNotModified(route: Route) async throws {
        let lists = try PublishedLists()
        let bytes = PublishedLists.content()
        let digest = try lists.publish(bytes, generation: 1)
        var status = stat()
        #expect(stat(lists.tree.path(PublishedLists.list), &status) == 0)
        let info = status
        try await lists.asking(route) { ask in
            let whole = try await ask(Self.list, .get, [:])
            #expect(whole.status == 200)
            #expect(whole.headers["etag"] == "\"\(digest)\"")
            #expect(whole.body == bytes)
            #expect(whole.headers["content-length"] == String(bytes.count))
            #expect(whole.headers["cache-control"] == "no-cache")
            #expect(whole.headers["last-modified"] == HTTPDate.format(secondsSinceEpoch: Int(info.st_mtim.tv_sec)))
            // The mode and time a mirror gives the list it installs, as rsync would.
            let attributes = ListFileAttributes(
                mode: whole.headers[ListFileAttributes.modeHeader.lowercased()],
                time: whole.headers[ListFileAttributes.timeHeader.lowercased()])
            #expect(attributes?.mode == 0o644)
            #expect(attributes?.seconds == Int(info.st_mtim.tv_sec))
            #expect(attributes?.nanoseconds == Int(info.st_mtim.tv_nsec))

            let head = try await ask(Self.list, .head, [:])
            #expect(head.status == 200)
            #expect(head.body.isEmpty)
            #expect(head.headers["etag"] == "\"\(digest)\"")
            #expect(head.headers["content-length"] == String(bytes.count))

            for match in ["\"\(digest)\"", "W/\"\(digest)\"", "\"0000\", \"\(digest)\"", "*"] {
                let poll = try await ask(Self.list, .get, [.ifNoneMatch: match])
                #expect(poll.status == 304, "If-None-Match: \(match)")
                #expect(poll.body.isEmpty)
                #expect(poll.headers["etag"] == "\"\(digest)\"")
                #expect(try await ask(Self.list, .head, [.ifNoneMatch: match]).status == 304)
            }
            let stale = try await ask(Self.list, .get, [.ifNoneMatch: "\"\(String(repeating: "0", count: 64))\""])
            #expect(stale.status == 200)
            #expect(stale.body == bytes)
        }
    }

    @Test("a poll's 304 and a whole list carry the same fields whichever way the request went")
    func sameAnswerOnEveryRoute() async throws {
        let lists = try PublishedLists()
        let digest = try lists.publish(PublishedLists.content(), generation: 1)
        var answers: [Route: (notModified: Answer, whole: Answer)] = [:]
        for route in Route.allCases {
            answers[route] = try await lists.asking(route) { ask in
                (try await ask(Self.list, .get, [.ifNoneMatch: "\"\(digest)\""]), try await ask(Self.list, .get, [:]))
            }
        }
        // Fields a live server sets per response or connection, not per list; and a 304
        // straight from the router still has the `Content-Length: 0` that the server
        // drops on the wire.
        func listFields(_ answer: Answer) -> [String: String] {
            answer.headers.filter {
                !["date", "server", "connection", "keep-alive"].contains($0.key)
                    && !(answer.status == 304 && $0.key == "content-length")
            }
        }
        let routed = try #require(answers[.router])
        let keepAlive = try #require(answers[.keepAlive])
        let plain = try #require(answers[.plain])
        for (route, other) in [(Route.keepAlive, keepAlive), (.plain, plain)] {
            #expect(other.notModified.status == 304)
            #expect(listFields(other.notModified) == listFields(routed.notModified), "\(route)")
            #expect(other.whole.status == 200)
            #expect(listFields(other.whole) == listFields(routed.whole), "\(route)")
            #expect(other.whole.body == routed.whole.body)
            // A live server says who answered and when, on the fast path as on the router's.
            #expect(other.notModified.headers["server"] == "filelistd", "\(route)")
            #expect(other.notModified.headers["date"] != nil, "\(route)")
        }
        // On the wire, the router's answer (behind `Connection: keep-alive`) and the fast
        // path's are the same, field for field, but for the date.
        #expect(
            keepAlive.notModified.headers.filter { $0.key != "date" && $0.key != "connection" }
                == plain.notModified.headers.filter { $0.key != "date" && $0.key != "connection" })
    }

    @Test(
        "a client that asks for gzip gets the gzip form, whichever way the request went; its ETag makes a 304",
        arguments: Route.allCases)
    func gzipOnEveryRoute(route: Route) async throws {
        let lists = try PublishedLists()
        let bytes = PublishedLists.content()
        let digest = try lists.publish(bytes, generation: 1)
        let gzipETag = EntityTag.gzipList(digest: digest).description
        try await lists.asking(route) { ask in
            // The catalog compresses each new version in the background: until then the
            // plain list goes out.
            var compressed = try await ask(Self.list, .get, [.acceptEncoding: "gzip"])
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(10)
            while compressed.headers["etag"] != gzipETag && clock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
                compressed = try await ask(Self.list, .get, [.acceptEncoding: "gzip"])
            }
            #expect(compressed.status == 200)
            #expect(compressed.headers["etag"] == gzipETag)
            #expect(compressed.headers["content-encoding"] == "gzip")
            #expect(compressed.headers["vary"] == "Accept-Encoding")
            var body = ByteBuffer(bytes: compressed.body)
            #expect(Array(buffer: try body.decompress(with: .gzip())) == bytes)
            let head = try await ask(Self.list, .head, [.acceptEncoding: "gzip"])
            #expect(head.headers["content-length"] == String(compressed.body.count))
            let poll = try await ask(Self.list, .get, [.ifNoneMatch: gzipETag, .acceptEncoding: "gzip"])
            #expect(poll.status == 304)
            #expect(poll.headers["etag"] == gzipETag)
            #expect(poll.headers["content-encoding"] == nil)
            // Without Accept-Encoding: the plain list, with the plain ETag.
            let plain = try await ask(Self.list, .get, [:])
            #expect(plain.body == bytes)
            #expect(plain.headers["etag"] == "\"\(digest)\"")
        }
    }

    @Test(
        "/changes after a second generation: 304 when current, the delta from the first, 410 when unknown",
        arguments: Route.allCases)
    func changes(route: Route) async throws {
        let lists = try PublishedLists()
        let first = PublishedLists.content()
        let second = PublishedLists.content(touched: 42)
        let firstDigest = try lists.publish(first, generation: 1)
        let secondDigest = try lists.publish(second, generation: 2)
        try await lists.asking(route) { ask in
            let base = "/changes?list=\(PublishedLists.list)&since="
            let current = try await ask(base + secondDigest, .get, [:])
            #expect(current.status == 304)
            #expect(current.headers["etag"] == "\"\(secondDigest)\"")
            #expect(current.body.isEmpty)

            // Clients pass the ETag as they got it, quotes and all.
            for since in [firstDigest, "%22\(firstDigest)%22"] {
                let delta = try await ask(base + since, .get, [:])
                #expect(delta.status == 200, "since=\(since)")
                #expect(delta.headers["etag"] == "\"\(secondDigest)\"")
                let decoded = try FileListDelta(decoding: delta.body, source: "/changes")
                #expect(decoded.base == firstDigest)
                #expect(decoded.result == secondDigest)
                #expect(try decoded.applied(to: first) == second)
                #expect(delta.body.count * 4 < second.count, "a delta of \(delta.body.count) B for a one-line change")
            }

            let unknown = try await ask(base + String(repeating: "0", count: 64), .get, [:])
            #expect(unknown.status == 410)
            #expect(unknown.headers["etag"] == "\"\(secondDigest)\"")
            #expect(try await ask("/changes?list=nothing&since=\(firstDigest)", .get, [:]).status == 404)
            #expect(try await ask("/changes?list=../secret&since=\(firstDigest)", .get, [:]).status == 404)
            let incomplete = try await ask("/changes?list=\(PublishedLists.list)", .get, [:])
            #expect(incomplete.status == 400)
            #expect(incomplete.text.contains("since="))
        }
    }

    @Test("/announcement names the publisher's generation and each list's ETag", arguments: Route.allCases)
    func announcement(route: Route) async throws {
        let lists = try PublishedLists()
        try await lists.asking(route) { ask in
            #expect(try await ask("/announcement", .get, [:]).status == 503)
            let firstDigest = try lists.publish(PublishedLists.content(), generation: 1)
            let first = try await ask("/announcement", .get, [:])
            #expect(first.status == 200)
            #expect(first.headers["content-type"] == "application/json")
            let announced = try Announcement(json: first.text)
            #expect(announced.generation == 1)
            #expect(announced.lists == [PublishedLists.list: "\"\(firstDigest)\""])
            #expect(announced.hops.map(\.host) == ["origin.test"])
            #expect(announced.hops.last?.generation == 1)

            // The number is the publisher's, as given: not the catalog's own count.
            let secondDigest = try lists.publish(PublishedLists.content(touched: 7), generation: 5)
            let second = try Announcement(json: try await ask("/announcement", .get, [:]).text)
            #expect(second.generation == 5)
            #expect(second.lists == [PublishedLists.list: "\"\(secondDigest)\""])
            #expect(second.hops.last?.generation == 5)
        }
    }

    @Test(
        "/healthz is 503 until the first list is published, then 200; and 503 again while publishing fails",
        arguments: Route.allCases)
    func health(route: Route) async throws {
        let lists = try PublishedLists(unread: false)
        try await lists.asking(route) { ask in
            let before = try await ask("/healthz", .get, [:])
            #expect(before.status == 503)
            #expect(before.headers["retry-after"] == "5")
            #expect(before.text == "no list published yet\n")

            try lists.publish(PublishedLists.content(), generation: 1)
            let after = try await ask("/healthz", .get, [:])
            #expect(after.status == 200)
            #expect(after.text == "ok\n")

            for _ in 0..<3 { lists.health.publishFailed() }
            let failing = try await ask("/healthz", .get, [:])
            #expect(failing.status == 503)
            #expect(failing.text == "the last 3 attempts to publish failed\n")
            lists.health.publishSucceeded()
            #expect(try await ask("/healthz", .get, [:]).status == 200)
        }
    }

    @Test("/healthz names a served list that was never read")
    func healthNamesUnreadList() async throws {
        let lists = try PublishedLists()
        try lists.publish(PublishedLists.content(), generation: 1)
        try await lists.asking(.router) { ask in
            let answer = try await ask("/healthz", .get, [:])
            #expect(answer.status == 503)
            #expect(answer.text == "lists not readable: \(PublishedLists.unread)\n")
        }
    }
}
