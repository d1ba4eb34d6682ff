import Foundation
import ListTransport
import Logging
import Testing
import TreeFixtures

/// `ListFetch` against an ordinary web server (no `/changes`, ETags that name no list
/// digest), as quick-mirror and mirror-cache meet one upstream of a plain mirror.
@Suite("fetching a list from a plain web server")
struct ListFetchTests {
    static let list = "[Version]\n2\n\n[Files]\n1700000000\tf\t3\tfedora/a.rpm\n\n[End]\n"
    static let path = "fedora/fullfiletimelist-fedora"

    /// A web server serving one list, and the fetch of it with fast retries. The tree goes
    /// (and the list with it) when the caller lets go of it.
    static func upstream() throws -> (TemporaryTree, ThrottledFileServer, ListFetch) {
        let tree = try TemporaryTree("list-fetch")
        try tree.file(path, list)
        let server = try ThrottledFileServer(root: tree.root)
        var fetch = ListFetch(base: server.url, timeout: .seconds(20), logger: Logger(label: "list-fetch-test"))
        fetch.backoff = Backoff(first: .milliseconds(300))
        return (tree, server, fetch)
    }

    static func bytes(_ answer: ListFetch.Answer) -> String? {
        guard case .fetched(let list) = answer else { return nil }
        return String(decoding: list.content.bytes, as: UTF8.self)
    }

    @Test("the whole list comes with the server's ETag; asked again with it, the list is unchanged")
    func wholeThenUnchanged() async throws {
        let (tree, server, fetch) = try Self.upstream()
        defer { withExtendedLifetime(tree) { server.stop() } }
        let first = try await fetch.fetch(Self.path, held: nil)
        #expect(Self.bytes(first) == Self.list)
        guard case .fetched(let list) = first else { return }
        #expect(list.etag != nil && list.lastModified != nil)
        #expect(list.transfer == .whole(compressed: nil))
        let held = ListFetch.Held(etag: list.etag, lastModified: list.lastModified) { list.content.bytes }
        let second = try await fetch.fetch(Self.path, held: held)
        guard case .unchanged = second else {
            Issue.record("expected unchanged, got \(second)")
            return
        }
        // No /changes from a server whose ETag names no list digest: two GETs of the list.
        #expect(server.gets("/" + Self.path) == 2)
        #expect(server.totalGets == 2)
    }

    @Test("a list cut off mid-transfer is asked for again, and comes whole")
    func cutTransferIsRetried() async throws {
        let (tree, server, base) = try Self.upstream()
        defer { withExtendedLifetime(tree) { server.stop() } }
        server.cut("/" + Self.path, atOffset: 10)
        var fetch = base
        fetch.retries = 2
        #expect(Self.bytes(try await fetch.fetch(Self.path, held: nil)) == Self.list)
        #expect(server.gets("/" + Self.path) == 2)
    }

    @Test("a server that is down is asked again after the backoff's pause, and the list comes once it is back")
    func downThenBack() async throws {
        let (tree, server, base) = try Self.upstream()
        defer { withExtendedLifetime(tree) { server.stop() } }
        server.setDown(true)
        var fetch = base
        fetch.retries = 3
        let back = Task {
            try await Task.sleep(for: .milliseconds(100))
            server.setDown(false)
        }
        let started = ContinuousClock.now
        #expect(Self.bytes(try await fetch.fetch(Self.path, held: nil)) == Self.list)
        #expect(ContinuousClock.now - started >= .milliseconds(300), "the first pause was waited")
        try await back.value
    }

    @Test("a server that stays down: the error names the URL once the retries are spent")
    func staysDown() async throws {
        let (_, server, base) = try Self.upstream()
        server.stop()
        var fetch = base
        fetch.retries = 2
        fetch.backoff = Backoff(first: .milliseconds(10))
        await #expect {
            try await fetch.fetch(Self.path, held: nil)
        } throws: { error in
            "\(error)".contains("cannot fetch \(server.url)/\(Self.path)")
        }
    }

    @Test("404 is an answer, not an outage: no retry, and the error says it")
    func notFoundIsFinal() async throws {
        let (tree, server, base) = try Self.upstream()
        defer { withExtendedLifetime(tree) { server.stop() } }
        var fetch = base
        fetch.retries = 3
        await #expect {
            try await fetch.fetch("fedora/no-such-list", held: nil)
        } throws: { error in
            "\(error)".contains("HTTP 404")
        }
        #expect(server.gets("/fedora/no-such-list") == 1)
    }
}
