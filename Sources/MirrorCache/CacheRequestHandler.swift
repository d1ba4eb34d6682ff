import ListProtocol
import Foundation
import LinuxCalls
import Logging
import NIOCore
import NIOHTTP1
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Reads each request on the connection's event loop. A hit on a fresh complete object
/// is answered right here, with its body copied by the kernel from the file to the socket
/// (sendfile(2), as nginx does): no Swift task, no buffer. Everything else (a miss, a
/// revalidation, a pass-through) goes to a task that writes the response as the bytes come.
final class CacheRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let cache: MirrorCache
    private var request: HTTPRequestHead?
    private var client: (allowed: Bool, address: String)?
    /// The Date and Last-Modified texts last made on this connection: formatted once per
    /// second and per object time, not once per response.
    private var date: (second: Int, text: String) = (-1, "")
    private var lastModified: (mtime: Int64, text: String) = (.min, "")

    init(cache: MirrorCache) { self.cache = cache }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): request = head
        case .body: break  // GET and HEAD carry none worth reading; others are refused
        case .end:
            if let head = request { handle(head, context: context) }
            request = nil
        }
    }

    private func handle(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let started = ContinuousClock.now
        let peer = peerAccess(context)
        let connection = ClientConnection(
            channel: context.channel, version: head.version, keepAlive: head.isKeepAlive, isHead: head.method == .HEAD)
        let log = RequestLog(
            writer: cache.requestLog, client: peer.address, method: head.method, uri: head.uri, started: started)
        guard peer.allowed else {
            return simple(context, connection, .forbidden, "\(peer.address) is not in --allow\n", log: log)
        }
        if head.method == .CONNECT {
            // A response to CONNECT carries no body (RFC 9112), so the reason goes in the
            // status line, which curl and proxies print.
            let refusal = HTTPResponseStatus.custom(
                code: 405,
                reasonPhrase:
                    "CONNECT refused: HTTPS cannot be cached; use the cache's reverse URL http://HOST:PORT/PATH")
            return simple(context, connection, refusal, "", log: log)
        }
        guard head.method == .GET || head.method == .HEAD else {
            return simple(context, connection, .methodNotAllowed, "only GET and HEAD are served\n", log: log)
        }
        if head.uri == "/metrics" {
            return simple(context, connection, .ok, cache.metricsText, contentType: CacheMetrics.contentType, log: log)
        }
        let target: RequestTarget
        let query: String?
        do {
            (target, query) = try RequestTarget.parse(head.uri, upstreams: cache.configuration.upstreams)
        } catch {
            if case .escapes = error { return simple(context, connection, .forbidden, "\(error)\n", log: log) }
            return simple(context, connection, .badRequest, "\(error)\n", log: log)
        }
        let range = head.headers.first(name: "range").flatMap(ByteRange.parse)
        let cache = self.cache
        if query == nil,
            let hit = cache.store.openForHit(
                target.key, isFresh: { if case .fresh = cache.freshness(target, $0) { true } else { false } })
        {
            return sendHit(hit, target: target, range: range, connection, context: context, log: log)
        }
        Task(executorPreference: cache.executor) {
            await cache.serveSlowly(target: target, query: query, uri: head.uri, range: range, connection, log: log)
        }
    }

    private func sendHit(
        _ hit: CacheStore.Hit, target: RequestTarget, range: ByteRange?, _ connection: ClientConnection,
        context: ChannelHandlerContext, log: RequestLog
    ) {
        let mtime = Int64(hit.info.st_mtim.tv_sec)
        let (status, fields, bytes) = ResponseFields.complete(
            size: Int64(hit.info.st_size), mtime: mtime, range: range, lastModified: lastModifiedText(mtime),
            etag: hit.etag)
        var headers = fields
        headers.add(name: "date", value: currentDate())
        if !connection.keepAlive { headers.add(name: "connection", value: "close") }
        cache.metrics.hits.increment()
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: connection.version, status: status, headers: headers))),
            promise: nil)
        let sending = connection.isHead ? 0 : Int64(bytes.count)
        var file: NIOFileHandle?
        switch hit.body {
        case .memory(let body):
            // Written with the head: one writev and one TCP push per response. The range
            // was checked against the stat the bytes were read with, so the slice exists.
            if sending > 0, let slice = body.getSlice(at: Int(bytes.lowerBound), length: Int(bytes.count)) {
                context.write(wrapOutboundOut(.body(.byteBuffer(slice))), promise: nil)
            }
        case .file(let descriptor):
            let handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: descriptor.rawValue)
            file = handle
            if sending > 0 {
                let region = FileRegion(
                    fileHandle: handle, readerIndex: Int(bytes.lowerBound), endIndex: Int(bytes.upperBound))
                context.write(wrapOutboundOut(.body(.fileRegion(region))), promise: nil)
            }
        }
        cache.metrics.bytesFromCache.increment(by: sending)
        if file == nil, connection.keepAlive {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            let sent = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: sent)
            let channel = context.channel
            let keepAlive = connection.keepAlive
            sent.futureResult.whenComplete { [file] _ in
                try? file?.close()
                if !keepAlive { channel.close(promise: nil) }
            }
        }
        log.done(status: status.code, bytes: sending, how: "hit")
    }

    private func simple(
        _ context: ChannelHandlerContext, _ connection: ClientConnection, _ status: HTTPResponseStatus, _ text: String,
        contentType: String = "text/plain; charset=utf-8", log: RequestLog
    ) {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: contentType)
        headers.add(name: "content-length", value: "\(text.utf8.count)")
        headers.add(name: "date", value: currentDate())
        if !connection.keepAlive { headers.add(name: "connection", value: "close") }
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: connection.version, status: status, headers: headers))),
            promise: nil)
        if !connection.isHead {
            context.write(
                wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: text)))), promise: nil)
        }
        let sent = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: sent)
        if !connection.keepAlive {
            let channel = context.channel
            sent.futureResult.whenComplete { _ in channel.close(promise: nil) }
        }
        log.done(status: status.code, bytes: Int64(text.utf8.count), how: "answered")
    }

    /// Whether the peer is in `--allow`, decided once per connection.
    private func peerAccess(_ context: ChannelHandlerContext) -> (allowed: Bool, address: String) {
        if let client { return client }
        var bytes: [UInt8] = []
        var text = "unknown"
        switch context.channel.remoteAddress {
        case .v4(let address):
            bytes = withUnsafeBytes(of: address.address.sin_addr) { Array($0) }
            text = address.host
        case .v6(let address):
            bytes = withUnsafeBytes(of: address.address.sin6_addr) { Array($0) }
            text = address.host
        default: break
        }
        let allowed = !bytes.isEmpty && cache.configuration.allow.contains { $0.contains(bytes) }
        client = (allowed, text)
        return (allowed, text)
    }

    private func currentDate() -> String {
        let now = time(nil)
        if now != date.second { date = (now, HTTPDate.format(secondsSinceEpoch: now)) }
        return date.text
    }

    private func lastModifiedText(_ mtime: Int64) -> String {
        if mtime != lastModified.mtime { lastModified = (mtime, HTTPDate.format(secondsSinceEpoch: Int(mtime))) }
        return lastModified.text
    }
}
