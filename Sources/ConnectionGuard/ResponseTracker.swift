import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Tells the connection's `ConnectionGuard` when each response has been sent (its end
/// written to the socket, not just queued), which starts the idle timeout. Placed after
/// the HTTP codec and before the handlers that answer: one for NIO's HTTP/1 parts, one
/// for the HTTP types Hummingbird speaks.
public final class ResponseTracker: ChannelOutboundHandler, RemovableChannelHandler {
    public typealias OutboundIn = HTTPServerResponsePart
    public typealias OutboundOut = HTTPServerResponsePart

    private var connectionGuard: ConnectionGuard?

    public init() {}

    public func handlerAdded(context: ChannelHandlerContext) {
        connectionGuard = try? context.pipeline.syncOperations.handler(type: ConnectionGuard.self)
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data), let connectionGuard else {
            return context.write(data, promise: promise)
        }
        context.write(data, promise: ResponseTracker.notifying(connectionGuard, promise, context))
    }

    static func notifying(
        _ connectionGuard: ConnectionGuard, _ promise: EventLoopPromise<Void>?, _ context: ChannelHandlerContext
    ) -> EventLoopPromise<Void> {
        let sent = promise ?? context.eventLoop.makePromise(of: Void.self)
        sent.futureResult.assumeIsolatedUnsafeUnchecked().whenSuccess { connectionGuard.responseSent() }
        return sent
    }
}

/// `ResponseTracker` for a pipeline of HTTP types parts (Hummingbird's).
public final class HTTPTypesResponseTracker: ChannelOutboundHandler, RemovableChannelHandler {
    public typealias OutboundIn = HTTPResponsePart
    public typealias OutboundOut = HTTPResponsePart

    private var connectionGuard: ConnectionGuard?

    public init() {}

    public func handlerAdded(context: ChannelHandlerContext) {
        connectionGuard = try? context.pipeline.syncOperations.handler(type: ConnectionGuard.self)
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data), let connectionGuard else {
            return context.write(data, promise: promise)
        }
        context.write(data, promise: ResponseTracker.notifying(connectionGuard, promise, context))
    }
}
