import ListProtocol
import HTTPTypes
import LinuxCalls
import Metrics
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Answers the requests every downstream mirror makes, GET and HEAD of a list, right on
/// the connection's event loop: a `304` made of the fields the version built once, or a
/// `200` whose body the kernel copies from the list file to the socket (sendfile(2), as
/// nginx does). Any other request goes on to the application (router, async handlers).
///
/// Responses on a connection keep the order of its requests: while a request handed on
/// is unanswered, later ones are handed on too.
final class ListFastPath: ChannelDuplexHandler, RemovableChannelHandler {
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
    private var last: (epoch: Int, second: Int, path: String, gzip: Bool, etag: String, fields: HTTPFields)?

    init(catalog: ListCatalog, serverName: String) {
        self.catalog = catalog
        self.serverName = serverName
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request):
            if handedOn == 0, answer(request, context: context) {
                answered = true
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

    /// Writes the whole answer to a plain GET or HEAD of a list and returns true; false
    /// for anything else (a request with a query or `Connection` header, a path that is
    /// no list, a list not read yet), which the application answers.
    private func answer(_ request: HTTPRequest, context: ChannelHandlerContext) -> Bool {
        guard request.method == .get || request.method == .head, let path = request.path,
            request.headerFields[.connection] == nil
        else { return false }
        let gzip = request.headerFields[.acceptEncoding].map { ListCoding.acceptsGzip(Substring($0).utf8) } ?? false
        let match = request.headerFields[.ifNoneMatch]
        let epoch = catalog.versionsEpoch.load(ordering: .acquiring)
        let second = time(nil)
        if let match, let last, last.epoch == epoch, last.second == second, last.path == path, last.gzip == gzip,
            EntityTag.ifNoneMatch(match, matches: last.etag)
        {
            FastPathCounts.notModified.increment()
            respond(.notModified, last.fields, context: context)
            return true
        }
        guard !path.utf8.contains(UInt8(ascii: "?")), let version = catalog.version(of: ListServer.listPath(path))
        else { return false }
        let form = version.representation(acceptingGzip: gzip)
        if let match, version.isMatched(by: match) {
            var fields = form.notModifiedHeaders
            fields[.date] = currentDate(second)
            fields[.server] = serverName
            last = (epoch, second, path, gzip, form.etag, fields)
            FastPathCounts.notModified.increment()
            respond(.notModified, fields, context: context)
            return true
        }
        var fields = form.headers
        fields[.date] = currentDate(second)
        fields[.server] = serverName
        guard request.method == .get else {
            FastPathCounts.ok.increment()
            respond(.ok, fields, context: context)
            return true
        }
        guard let codec = try? context.pipeline.syncOperations.context(handlerType: HTTP1ToHTTPServerCodec.self) else {
            return false  // not the pipeline this handler was made for: the application answers
        }
        let body: FileRegion
        let file: NIOFileHandle
        do {
            // FileRegion is NIO's one way to sendfile(2); its handle type is deprecated
            // for file I/O, not for this. Each response gets its own descriptor: a
            // handle allows one user at a time, and the version outlives the response.
            file = NIOFileHandle(
                _deprecatedTakingOwnershipOfDescriptor: try Linux.duplicate(form.descriptor, displayPath: path).rawValue
            )
            body = FileRegion(fileHandle: file, readerIndex: 0, endIndex: form.size)
        } catch {
            return false
        }
        FastPathCounts.ok.increment()
        FastPathCounts.wholeLists.increment()
        context.write(wrapOutboundOut(.head(HTTPResponse(status: .ok, headerFields: fields))), promise: nil)
        // Below the HTTP types codec a body may be a file region; this handler's own
        // parts are HTTP types, whose bodies are buffers only.
        let sent = context.eventLoop.makePromise(of: Void.self)
        sent.futureResult.whenComplete { _ in try? file.close() }
        codec.write(NIOAny(HTTPServerResponsePart.body(.fileRegion(body))), promise: sent)
        context.write(wrapOutboundOut(.end(nil)), promise: nil)
        return true
    }

    private func respond(_ status: HTTPResponse.Status, _ fields: HTTPFields, context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(.head(HTTPResponse(status: status, headerFields: fields))), promise: nil)
        context.write(wrapOutboundOut(.end(nil)), promise: nil)
    }

    private func currentDate(_ now: Int) -> String {
        if now != date.second { date = (now, HTTPDate.format(secondsSinceEpoch: now)) }
        return date.text
    }
}
