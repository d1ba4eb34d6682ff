import AsyncHTTPClient
import ListProtocol
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// Follows an upstream filelistd's `/events` stream on a thread of its own, reconnecting
/// with backoff; `quick-mirror follow` looks at `latest` between syncs, and so does
/// mirror-cache's listing between polls; a relay hears each announcement as it comes
/// (`onAnnouncement`).
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
        /// The id of the last event, sent back on reconnecting: the server replays what
        /// was missed meanwhile (or sends `reset`).
        public var lastEventID: String?
    }

    public let url: String
    let logger: Logger
    let silenceLimit: Duration
    let onAnnouncement: (@Sendable (Announcement) -> Void)?
    private let state = Mutex(Latest())
    private let lastByte = Mutex(ContinuousClock.now)
    private let stopped = Atomic(false)

    public init(
        url: String, silenceLimit: Duration = .seconds(45), logger: Logger,
        onAnnouncement: (@Sendable (Announcement) -> Void)? = nil
    ) {
        self.url = url
        self.silenceLimit = silenceLimit
        self.logger = logger
        self.onAnnouncement = onAnnouncement
    }

    public var latest: Latest { state.withLock { $0 } }

    public func start() {
        Thread.detachNewThread { [self] in self.connectForever() }
    }

    /// Ends the stream and the reconnecting: a follower that runs until cancelled stops
    /// its stream with it (within the 0.2 s the connection's thread waits at a time).
    public func stop() { stopped.store(true, ordering: .relaxed) }

    private var isStopped: Bool { stopped.load(ordering: .relaxed) }

    // Each connection is its own non-inlined function: with the whole attempt inlined
    // into the endless loop, Swift 6.3's optimizer (loop-invariant code motion) did not
    // finish compiling this file in release builds.
    private func connectForever() {
        var failures = 0
        while !isStopped {
            failures = connectOnce(failures: failures)
            let pause = ContinuousClock.now + Self.backoff.pause(beforeRetry: failures + 1)
            while !isStopped && ContinuousClock.now < pause { Thread.sleep(forTimeInterval: 0.2) }
        }
    }

    /// 1, 2, 4... seconds between connections, at most a minute.
    static let backoff = Backoff(first: .seconds(1), limit: .seconds(60))

    /// One connection, until it ends; returns the failure count for the backoff.
    @inline(never)
    private func connectOnce(failures: Int) -> Int {
        let delegate = StreamDelegate(events: self)
        do {
            var request = try HTTPClient.Request(url: url, method: .GET)
            request.headers.add(name: "Accept", value: ServerSentEvents.contentType)
            if let id = state.withLock({ $0.lastEventID }) {
                request.headers.add(name: ServerSentEvents.lastEventIDHeader, value: id)
            }
            lastByte.withLock { $0 = .now }
            let task = ListHTTPClient.shared.execute(request: request, delegate: delegate)
            let finished = DispatchSemaphore(value: 0)
            task.futureResult.whenComplete { _ in finished.signal() }
            while finished.wait(timeout: .now() + 0.2) == .timedOut {
                if isStopped || ContinuousClock.now - lastByte.withLock({ $0 }) > silenceLimit { task.cancel() }
            }
        } catch {
            logger.info("change stream \(url): \(error)")
        }
        let wasConnected = state.withLock { state in
            defer { state.connected = false }
            return state.connected
        }
        // Backoff restarts only after a stream that carried something: a server that
        // accepts and closes at once is not hammered every second.
        if wasConnected && delegate.delivered.withLock({ $0 }) > 0 {
            logger.info("change stream \(url) closed; polling until it is back")
            return 0
        }
        if failures == 0, let status = delegate.status.withLock({ $0 }), status != .ok {
            logger.info("no change stream at \(url) (HTTP \(status.code)); polling")
        }
        return failures + 1
    }

    fileprivate func connected() {
        state.withLock { $0.connected = true }
        logger.info("change stream \(url) connected")
    }

    /// Returns how many announcements the bytes completed.
    fileprivate func received(_ bytes: ByteBufferView, parser: inout ServerSentEventParser) -> Int {
        lastByte.withLock { $0 = .now }
        var delivered = 0
        for event in parser.feed(bytes) where ServerSentEvents.announces(event) {
            do {
                let announcement = try Announcement(json: event.data)
                state.withLock { state in
                    state.count += 1
                    state.announcement = announcement
                    state.lastEventID = event.id ?? state.lastEventID
                }
                onAnnouncement?(announcement)
                delivered += 1
            } catch {
                logger.info("change stream \(url) sent an event that is not an announcement: \(error)")
            }
        }
        return delivered
    }
}

private final class StreamDelegate: HTTPClientResponseDelegate {
    typealias Response = Void

    let events: UpstreamEvents
    let parser = Mutex(ServerSentEventParser())
    let status = Mutex<HTTPResponseStatus?>(nil)
    /// Announcements this connection delivered.
    let delivered = Mutex(0)

    init(events: UpstreamEvents) { self.events = events }

    func didReceiveHead(task: HTTPClient.Task<Void>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        status.withLock { $0 = head.status }
        // A catch-all web server may answer 200 with a page: that is no change stream.
        let type = head.headers.first(name: "Content-Type") ?? ""
        guard head.status == .ok, type.hasPrefix(ServerSentEvents.contentType) else {
            if head.status == .ok { status.withLock { $0 = .unsupportedMediaType } }
            return task.eventLoop.makeFailedFuture(HTTPClientError.cancelled)
        }
        events.connected()
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<Void>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        let count = parser.withLock { events.received(buffer.readableBytesView, parser: &$0) }
        delivered.withLock { $0 += count }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didFinishRequest(task: HTTPClient.Task<Void>) throws {}
}
