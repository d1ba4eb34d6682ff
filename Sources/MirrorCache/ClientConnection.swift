import NIOCore
import NIOHTTP1

/// One client request's response, written from outside the channel's handler (a miss is
/// served by a Swift task): each write waits until the bytes are on their way, which is
/// the back-pressure that keeps a slow client from piling up memory.
struct ClientConnection: Sendable {
    let channel: any Channel
    let version: HTTPVersion
    let keepAlive: Bool
    let isHead: Bool

    func head(_ status: HTTPResponseStatus, _ headers: HTTPHeaders) async throws {
        var headers = headers
        if !keepAlive { headers.replaceOrAdd(name: "connection", value: "close") }
        let head = HTTPResponseHead(version: version, status: status, headers: headers)
        try await channel.writeAndFlush(HTTPServerResponsePart.head(head)).get()
    }

    func body(_ region: FileRegion) async throws {
        guard !isHead, region.readableBytes > 0 else { return }
        try await channel.writeAndFlush(HTTPServerResponsePart.body(.fileRegion(region))).get()
    }

    func body(_ buffer: ByteBuffer) async throws {
        guard !isHead, buffer.readableBytes > 0 else { return }
        try await channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(buffer))).get()
    }

    func end() async throws {
        try await channel.writeAndFlush(HTTPServerResponsePart.end(nil)).get()
        if !keepAlive { try? await channel.close() }
    }

    /// A short complete answer (errors, 304, /metrics).
    func respond(_ status: HTTPResponseStatus, _ text: String, contentType: String = "text/plain; charset=utf-8")
        async throws
    {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: contentType)
        headers.add(name: "content-length", value: "\(text.utf8.count)")
        try await head(status, headers)
        try await body(channel.allocator.buffer(string: text))
        try await end()
    }

    /// Ends the connection without ending the body: the one way to tell an HTTP/1.1
    /// client that the bytes it got are not the whole object.
    func cut() {
        channel.close(promise: nil)
    }
}
