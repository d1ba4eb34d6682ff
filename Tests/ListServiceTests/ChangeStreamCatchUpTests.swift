import ListProtocol
import ListService
import Testing

/// What a subscriber of `/events` gets first, by the id it comes back with.
@Suite("the change stream's first event after a reconnection")
struct ChangeStreamCatchUpTests {
    /// The first event of `stream`.
    func first(_ stream: AsyncStream<ListCatalog.StreamEvent>) async -> ListCatalog.StreamEvent? {
        var iterator = stream.makeAsyncIterator()
        return await iterator.next()
    }

    @Test("a client that reconnects before a restarted server's first announcement gets that announcement as a reset")
    func idFromBeforeARestart() async throws {
        // A filelistd listens before its first scan ends: a follower that reconnects then
        // (Scripts/three-hosts.sh: the origin SIGKILLed and started) holds an id of the
        // last run. Its first event used to be a plain `lists` of generation 1, which
        // reads as a skip backwards with no reset.
        let lists = try PublishedLists(unread: false)
        let returning = lists.catalog.subscribe(after: "0ldrun-57")
        let new = lists.catalog.subscribe()
        try lists.publish(PublishedLists.content(), generation: 1)
        let event = try #require(await first(returning))
        #expect(event.name == ServerSentEvents.resetEventName)
        #expect(event.id == "\(lists.catalog.run)-1" && event.announcement.generation == 1)
        #expect(await first(new)?.name == ServerSentEvents.eventName, "a client with no id gets a plain announcement")

        // Only the first: the next generation is a plain announcement to both.
        let later = lists.catalog.subscribe(after: "0ldrun-57")
        var events = later.makeAsyncIterator()
        #expect(await events.next()?.name == ServerSentEvents.resetEventName, "once there is one, at once")
        try lists.publish(PublishedLists.content(touched: 3), generation: 2)
        #expect(await events.next().map { [$0.name, $0.id] } == [ServerSentEvents.eventName, "\(lists.catalog.run)-2"])
    }
}
