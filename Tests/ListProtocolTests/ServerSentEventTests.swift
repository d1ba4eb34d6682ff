import ListProtocol
import Foundation
import Testing

@Suite("the change stream's framing")
struct ServerSentEventTests {
    let announcement = Announcement(
        generation: 7, lists: ["fedora/fullfiletimelist-fedora": "\"ab12\""],
        hops: [Hop(host: "origin", generation: 7), Hop(host: "tier1", generation: 3)])

    @Test("an announcement framed by the server reads back the same, however the bytes are split")
    func roundTrip() throws {
        let bytes = Array((ServerSentEvents.heartbeat + ServerSentEvents.frame(announcement)).utf8)
        for split in [1, 2, 7, 64, bytes.count] {
            var parser = ServerSentEventParser()
            var events: [ServerSentEventParser.Event] = []
            var offset = 0
            while offset < bytes.count {
                events += parser.feed(bytes[offset..<min(offset + split, bytes.count)])
                offset += split
            }
            #expect(events.count == 1, "split every \(split) bytes")
            #expect(events.first?.name == ServerSentEvents.eventName)
            #expect(events.first?.id == "7")
            #expect(try Announcement(json: events.first?.data ?? "") == announcement)
        }
    }

    @Test("CRLF line ends, multi-line data, comments and unknown fields")
    func parserRules() {
        var parser = ServerSentEventParser()
        let events = parser.feed(Array(": hello\r\nevent: x\r\ndata: a\r\ndata:b\r\nretry: 5\r\n\r\ndata: c\n\n".utf8))
        #expect(events == [.init(id: nil, name: "x", data: "a\nb"), .init(id: nil, name: "message", data: "c")])
    }

    @Test("the route names each hop, the origin with its time and the others with their delay")
    func route() throws {
        let origin = Date(timeIntervalSince1970: 1_800_000_000)
        let chain = Announcement(
            generation: 4, lists: [:],
            hops: [
                Hop(host: "origin", generation: 12, announced: origin),
                Hop(host: "tier1", generation: 4, announced: origin.addingTimeInterval(1.25)),
            ])
        #expect(chain.route.hasPrefix("origin#12 2027-01-15T08:00:00.000Z > tier1#4 +1.25 s"))
        #expect(try Announcement.hops(json: Announcement.hopsJSON(chain.hops)) == chain.hops)
    }
}
