import HTTPTypes
import ListProtocol
import NIOCore
import NIOHTTPTypes

/// `POST /rescan?path=P&path=Q`: a writer on another host (an NFS client: the kernel here
/// reports nothing of its writes) asks the daemon to read those subtrees again. Off
/// unless the operator names the networks allowed (`--allow-rescan-from`); a request
/// from anywhere else gets 403 and changes nothing.
public struct RemoteRescan: Sendable {
    public var allowed: AddressRanges
    /// Asks the daemon; the reply is its text (`error: ...` when it refused the paths).
    public var perform: @Sendable ([String]) async -> String

    public init(allowed: AddressRanges, perform: @escaping @Sendable ([String]) async -> String) {
        self.allowed = allowed
        self.perform = perform
    }
}

/// Answers `/rescan` on the connection's event loop, where the peer's address is known,
/// before the application sees it; every other request goes on.
final class RescanEndpoint: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundOut = HTTPResponsePart

    let rescan: RemoteRescan?
    /// The rest of a request answered here is not handed on.
    private var answering = false

    init(rescan: RemoteRescan?) { self.rescan = rescan }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request):
            guard let target = request.path, target == "/rescan" || target.hasPrefix("/rescan?") else {
                answering = false
                context.fireChannelRead(data)
                return
            }
            answering = true
            answer(request, target: target, context: context)
        case .body, .end:
            if !answering { context.fireChannelRead(data) }
        }
    }

    private func answer(_ request: HTTPRequest, target: String, context: ChannelHandlerContext) {
        let peer = context.channel.remoteAddress?.ipAddress ?? "unknown"
        guard let rescan, rescan.allowed.contains(peer) else {
            respond(.forbidden, "rescan from \(peer) is not allowed (filelistd --allow-rescan-from)\n", context)
            return
        }
        guard request.method == .post else {
            respond(.methodNotAllowed, "use POST /rescan?path=PATH\n", context, allow: true)
            return
        }
        let query = target.split(separator: "?", maxSplits: 1).dropFirst().first ?? ""
        guard let paths = PercentCoding.values(of: "path", inQuery: query), !paths.isEmpty else {
            respond(.badRequest, "give the subtrees to read again: POST /rescan?path=PATH[&path=PATH...]\n", context)
            return
        }
        let loop = context.eventLoop
        let promise = loop.makePromise(of: String.self)
        promise.completeWithTask { await rescan.perform(paths) }
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        promise.futureResult.whenSuccess { reply in
            let (endpoint, context) = bound.value
            endpoint.respond(reply.hasPrefix("error: ") ? .badRequest : .ok, reply, context)
        }
    }

    private func respond(
        _ status: HTTPResponse.Status, _ text: String, _ context: ChannelHandlerContext, allow: Bool = false
    ) {
        var fields: HTTPFields = [
            .contentType: "text/plain; charset=utf-8", .contentLength: String(text.utf8.count), .connection: "close",
        ]
        if allow { fields[.allow] = "POST" }
        context.write(wrapOutboundOut(.head(HTTPResponse(status: status, headerFields: fields))), promise: nil)
        context.write(wrapOutboundOut(.body(ByteBuffer(string: text))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
    }
}
