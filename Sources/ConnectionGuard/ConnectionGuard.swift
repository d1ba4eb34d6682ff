import NIOCore

/// The first handler of every client connection, ahead of the HTTP decoder: it enforces
/// `ServerLimits` on the raw bytes.
///
/// - admission: past `maxConnections` the connection is answered `503` and closed;
/// - the head: a line over `maxLineBytes` or a head over `maxHeadBytes` is refused (`414`
///   for the request line, `431` for fields) before the decoder has buffered it;
/// - time: a head must be complete `headerTimeout` after its first byte (or after the
///   accept, for the first request) or the client gets `408`; a connection with nothing
///   asked and nothing being answered is closed after `idleTimeout`; a response whose
///   bytes stop leaving for `sendTimeout` is abandoned.
///
/// It learns when a response has been sent from a `ResponseTracker` placed after the
/// HTTP codec. A connection with a response in progress (an `/events` stream among them)
/// has no read deadline: it is limited by the send timeout and the caps instead.
public final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = IOData
    public typealias OutboundOut = IOData

    private enum Deadline {
        case header
        case idle
    }

    let gate: ConnectionGate
    private var limits: ServerLimits { gate.limits }
    private var scanner: HeadScanner
    private var context: ChannelHandlerContext?
    private var admitted = false
    private var started = false
    /// Refused or timed out: what still arrives is read and dropped until the close.
    private var closing = false
    /// Requests whose head has passed and whose response has not been sent yet.
    private var unanswered = 0
    private var deadline: (kind: Deadline, task: Scheduled<Void>)?
    /// Bytes handed to the socket by this connection's handlers, and the part of them that
    /// had left when last looked at: the send timeout watches the second grow.
    private var written: Int64 = 0
    private var sent: Int64 = 0
    private var lastProgress = NIODeadline.now()
    private var stallCheck: Scheduled<Void>?
    /// The server is stopping: close once nothing is being answered.
    private var closeWhenAnswered = false

    public init(gate: ConnectionGate) {
        self.gate = gate
        let limits = gate.limits
        scanner = HeadScanner(
            maxHeadBytes: limits.maxHeadBytes, maxLineBytes: limits.maxLineBytes, maxBodyBytes: limits.maxBodyBytes)
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        admitted = gate.admitConnection()
        if context.channel.isActive { start(context) }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimers()
        self.context = nil
        if admitted {
            admitted = false
            gate.releaseConnection()
        }
    }

    public func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        cancelTimers()
        context.fireChannelInactive()
    }

    private func start(_ context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        guard admitted else {
            refuse(context, status: "503 Service Unavailable", reason: "too many connections; try again later\n")
            return
        }
        arm(.header, context)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        let buffer = unwrapInboundIn(data)
        let outcome = buffer.withUnsafeReadableBytes { scanner.scan($0) }
        if let refusal = outcome.refusal {
            // With an answer still being written, a response of ours would land inside it.
            guard unanswered == 0, outcome.heads == 0 else {
                closing = true
                context.close(promise: nil)
                return
            }
            switch refusal {
            case .uriTooLong:
                gate.count(.uriTooLong)
                refuse(
                    context, status: "414 URI Too Long",
                    reason: "the request line is longer than \(limits.maxLineBytes) bytes\n")
            case .headTooLarge:
                gate.count(.headTooLarge)
                refuse(
                    context, status: "431 Request Header Fields Too Large",
                    reason:
                        "the request's head is over \(limits.maxHeadBytes) bytes or has a line over \(limits.maxLineBytes)\n"
                )
            case .lengthRequired:
                gate.count(.bodyRefused)
                refuse(context, status: "411 Length Required", reason: "a chunked request body is not read here\n")
            case .bodyTooLarge:
                gate.count(.bodyRefused)
                refuse(context, status: "413 Content Too Large", reason: "request bodies are not read here\n")
            case .badLength:
                gate.count(.bodyRefused)
                refuse(context, status: "400 Bad Request", reason: "Content-Length is not a number\n")
            }
            return
        }
        unanswered += outcome.heads
        if unanswered > 0 {
            cancelDeadline()
        } else if scanner.isMidRequest, deadline?.kind != .header {
            arm(.header, context)
        }
        context.fireChannelRead(data)
    }

    /// Called by the tracker once a response's last byte is written.
    func responseSent() {
        guard let context, !closing else { return }
        unanswered = max(0, unanswered - 1)
        guard unanswered == 0 else { return }
        if closeWhenAnswered {
            closing = true
            context.close(promise: nil)
            return
        }
        arm(scanner.isMidRequest ? .header : .idle, context)
    }

    /// A server that stops (NIO's quiescing helper) lets each connection finish the
    /// response it is sending, then closes it. A head still arriving is not waited for:
    /// thousands of half-sent requests would hold the stop for the header timeout.
    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            if unanswered == 0 {
                closing = true
                context.close(promise: nil)
            } else {
                closeWhenAnswered = true
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .byteBuffer(let buffer): written += Int64(buffer.readableBytes)
        case .fileRegion(let region): written += Int64(region.readableBytes)
        }
        context.write(data, promise: promise)
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            stallCheck?.cancel()
            stallCheck = nil
        } else if stallCheck == nil {
            sent = leftSoFar(context)
            lastProgress = .now()
            scheduleStallCheck(context)
        }
        context.fireChannelWritabilityChanged()
    }

    // MARK: Deadlines

    private func arm(_ kind: Deadline, _ context: ChannelHandlerContext) {
        cancelDeadline()
        // A connection being closed (its event loop, maybe, shutting down) needs no deadline.
        guard context.channel.isActive else { return }
        let delay = kind == .header ? limits.headerTimeout : limits.idleTimeout
        let task = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: TimeAmount(delay)) {
            [self] in
            deadline = nil
            expired(kind)
        }
        deadline = (kind, task)
    }

    private func expired(_ kind: Deadline) {
        guard let context, !closing, unanswered == 0 else { return }
        switch kind {
        case .header:
            gate.count(.headerTimeout)
            refuse(context, status: "408 Request Timeout", reason: "the request's head took too long\n")
        case .idle:
            gate.count(.idleTimeout)
            closing = true
            context.close(promise: nil)
        }
    }

    private func cancelDeadline() {
        deadline?.task.cancel()
        deadline = nil
    }

    private func cancelTimers() {
        cancelDeadline()
        stallCheck?.cancel()
        stallCheck = nil
    }

    // MARK: The send timeout

    /// Bytes handed over that have left the channel's own buffer for the kernel.
    private func leftSoFar(_ context: ChannelHandlerContext) -> Int64 {
        let buffered = (try? context.channel.syncOptions?.getOption(.bufferedWritableBytes)) ?? 0
        return written - Int64(buffered)
    }

    private func scheduleStallCheck(_ context: ChannelHandlerContext) {
        let interval = TimeAmount(limits.sendTimeout / 4)
        stallCheck = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(
            in: max(interval, .milliseconds(10))
        ) {
            [self] in
            stallCheck = nil
            guard let context = self.context, !closing else { return }
            let now = leftSoFar(context)
            if now > sent {
                sent = now
                lastProgress = .now()
            } else if NIODeadline.now() - lastProgress >= TimeAmount(limits.sendTimeout) {
                gate.count(.sendTimeout)
                closing = true
                context.close(promise: nil)
                return
            }
            if context.channel.isActive, !context.channel.isWritable { scheduleStallCheck(context) }
        }
    }

    // MARK: Refusing

    /// Writes a short answer of our own (the decoder never saw this request), stops
    /// writing, and closes once the client has closed too or after a moment: closing
    /// with its unread bytes in the socket would reset the connection, and the client
    /// might never read why.
    private func refuse(_ context: ChannelHandlerContext, status: String, reason: String) {
        closing = true
        cancelDeadline()
        let text =
            "HTTP/1.1 \(status)\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: \(reason.utf8.count)\r\nConnection: close\r\n\r\n\(reason)"
        let channel = context.channel
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.byteBuffer(channel.allocator.buffer(string: text))), promise: written)
        written.futureResult.whenComplete { result in
            guard case .success = result, channel.isActive else { return channel.close(promise: nil) }
            channel.close(mode: .output, promise: nil)
            channel.eventLoop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
        }
    }
}
