import AsyncHTTPClient
import ChangeStream
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// Follows an upstream filelistd's `/events` stream on a thread of its own, reconnecting
/// with backoff; `quick-mirror follow` looks at `latest` between syncs.
///
/// A connection that carries nothing, not even the server's heartbeat comment, for
/// `silenceLimit` is taken as dead and replaced: a stream through a dropped NAT entry
/// or a stopped upstream would otherwise look quiet forever.
public final class UpstreamEvents: Sendable {
    public struct Latest: Sendable {
        /// Announcements received so far; a sync compares it before and after.
        public var count = 0
        public var announcement: Announcement?
        public var connected = false
    }

    public let url: String
    let log: @Sendable (String) -> Void
    let silenceLimit: Duration
    private let state = Mutex(Latest())
    private let lastByte = Mutex(ContinuousClock.now)

    public init(url: String, silenceLimit: Duration = .seconds(45), log: @escaping @Sendable (String) -> Void) {
        self.url = url
        self.silenceLimit = silenceLimit
        self.log = log
    }

    public var latest: Latest { state.withLock { $0 } }

    public func start() {
        Thread.detachNewThread { [self] in self.connectForever() }
    }

    private func connectForever() {
        var failures = 0
        while true {
            let delegate = StreamDelegate(events: self)
            do {
                var request = try HTTPClient.Request(url: url, method: .GET)
                request.headers.add(name: "Accept", value: ServerSentEvents.contentType)
                lastByte.withLock { $0 = .now }
                let task = HTTPClient.shared.execute(request: request, delegate: delegate)
                let finished = Atomic<Bool>(false)
                task.futureResult.whenComplete { _ in finished.store(true, ordering: .releasing) }
                while !finished.load(ordering: .acquiring) {
                    Thread.sleep(forTimeInterval: 0.2)
                    if ContinuousClock.now - lastByte.withLock({ $0 }) > silenceLimit { task.cancel() }
                }
            } catch {
                log("change stream \(url): \(error)")
            }
            let wasConnected = state.withLock { state in
                defer { state.connected = false }
                return state.connected
            }
            if wasConnected {
                failures = 0
                log("change stream \(url) closed; polling until it is back")
            } else {
                failures += 1
                if failures == 1, let status = delegate.status.withLock({ $0 }), status != .ok {
                    log("no change stream at \(url) (HTTP \(status.code)); polling")
                }
            }
            Thread.sleep(forTimeInterval: min(pow(2, Double(min(failures, 6))), 60))
        }
    }

    fileprivate func connected() {
        state.withLock { $0.connected = true }
        log("change stream \(url) connected")
    }

    fileprivate func received(_ bytes: ByteBufferView, parser: inout ServerSentEventParser) {
        lastByte.withLock { $0 = .now }
        for event in parser.feed(bytes) where event.name == ServerSentEvents.eventName {
            do {
                let announcement = try Announcement(json: event.data)
                state.withLock { state in
                    state.count += 1
                    state.announcement = announcement
                }
            } catch {
                log("change stream \(url) sent an event that is not an announcement: \(error)")
            }
        }
    }
}

private final class StreamDelegate: HTTPClientResponseDelegate {
    typealias Response = Void

    let events: UpstreamEvents
    let parser = Mutex(ServerSentEventParser())
    let status = Mutex<HTTPResponseStatus?>(nil)

    init(events: UpstreamEvents) { self.events = events }

    func didReceiveHead(task: HTTPClient.Task<Void>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        status.withLock { $0 = head.status }
        guard head.status == .ok else {
            return task.eventLoop.makeFailedFuture(HTTPClientError.cancelled)
        }
        events.connected()
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<Void>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        parser.withLock { events.received(buffer.readableBytesView, parser: &$0) }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didFinishRequest(task: HTTPClient.Task<Void>) throws {}
}
