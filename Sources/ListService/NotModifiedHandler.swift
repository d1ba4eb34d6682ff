import ChangeStream
import HTTPTypes
import NIOCore
import NIOHTTPTypes
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Answers the request every downstream mirror makes over and over, a GET or HEAD of a
/// list with the ETag it already has, on the connection's event loop: a `304` made of
/// the fields the version built once, a Date header formatted once a second, nothing
/// else. Any other request goes on to the application (router, async handlers).
///
/// Responses on a connection keep the order of its requests: while a request handed on
/// is unanswered, later ones are handed on too.
final class NotModifiedHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let catalog: ListCatalog
    let serverName: String
    /// Requests handed to the application whose response has not ended yet.
    private var handedOn = 0
    /// The rest of a request answered here (its end, any body) is not handed on.
    private var answered = false
    private var needsFlush = false
    private var date: (second: Int, text: String) = (-1, "")
    /// The last 304 this connection sent, reused for the next poll of the same list while
    /// the catalog's versions and the second have not changed: no look-up, no new fields.
    private var last: (epoch: Int, second: Int, path: String, etag: String, fields: HTTPFields)?

    init(catalog: ListCatalog, serverName: String) {
        self.catalog = catalog
        self.serverName = serverName
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request):
            if handedOn == 0, let fields = notModified(request) {
                answered = true
                NotModifiedCount.counter.increment()
                context.write(wrapOutboundOut(.head(HTTPResponse(status: .notModified, headerFields: fields))), promise: nil)
                context.write(wrapOutboundOut(.end(nil)), promise: nil)
                needsFlush = true
                return
            }
            answered = false
            handedOn += 1
            context.fireChannelRead(data)
        case .body:
            if !answered { context.fireChannelRead(data) }
        case .end:
            if answered {
                answered = false
            } else {
                context.fireChannelRead(data)
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if needsFlush {
            needsFlush = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { handedOn = max(0, handedOn - 1) }
        context.write(data, promise: promise)
    }

    /// The fields of a `304` when `request` is a plain conditional GET or HEAD of a list
    /// whose current ETag it names; nil for anything else.
    private func notModified(_ request: HTTPRequest) -> HTTPFields? {
        guard request.method == .get || request.method == .head, let path = request.path,
            request.headerFields[.connection] == nil, let match = request.headerFields[.ifNoneMatch]
        else { return nil }
        let epoch = catalog.versionsEpoch.load(ordering: .acquiring)
        let second = time(nil)
        if let last, last.epoch == epoch, last.second == second, last.path == path,
            ListServer.matches(match, last.etag)
        {
            return last.fields
        }
        guard !path.utf8.contains(UInt8(ascii: "?")), let version = catalog.version(of: ListServer.listPath(path)),
            ListServer.matches(match, version.etag)
        else { return nil }
        var fields = version.headers
        fields[.date] = currentDate(second)
        fields[.server] = serverName
        last = (epoch, second, path, version.etag, fields)
        return fields
    }

    private func currentDate(_ now: Int) -> String {
        if now != date.second { date = (now, HTTPDate.format(secondsSinceEpoch: now)) }
        return date.text
    }
}
