import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// `nio-floor PORT [DIR [sendfile]]`: SwiftNIO's HTTP/1 server set up as mirror-cache's
/// is (same pipeline, one event loop per core, same response fields) with nothing else:
/// no name checks, no freshness, no request log. Without DIR every GET gets 16 KiB from
/// memory; with DIR it gets the file DIR/PATH, read as a hit reads it (open, fstat,
/// pread into the response, close), or with `sendfile` sent as NIO's `FileRegion`. Its
/// rate under wrk is the most mirror-cache's small hits can reach on this stack.
@main
struct NIOFloor {
    static func main() throws {
        let arguments = Array(CommandLine.arguments.dropFirst())
        let port = arguments.first.flatMap { Int($0) } ?? 8082
        let root = arguments.count > 1 ? arguments[1] : nil
        let sendfile = arguments.count > 2 && arguments[2] == "sendfile"
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let channel = try ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withErrorHandling: true, withOutboundHeaderValidation: false)
                    try channel.pipeline.syncOperations.addHandler(FloorHandler(root: root, sendfile: sendfile))
                }
            }
            .bind(host: "127.0.0.1", port: port).wait()
        try channel.closeFuture.wait()
    }
}

final class FloorHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    static let memoryBody = ByteBuffer(repeating: 0x61, count: 16384)
    let root: String?
    let sendfile: Bool
    private var uri = ""

    init(root: String?, sendfile: Bool) {
        self.root = root
        self.sendfile = sendfile
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if case .head(let head) = part { uri = head.uri }
        guard case .end = part else { return }
        guard let root else { return respond(context, size: 16384, body: .byteBuffer(Self.memoryBody), file: nil) }
        let descriptor = open(root + uri, O_RDONLY | O_CLOEXEC)
        var info = stat()
        guard descriptor >= 0, fstat(descriptor, &info) == 0 else {
            if descriptor >= 0 { close(descriptor) }
            return respond(context, size: 0, body: nil, file: nil)
        }
        let size = Int(info.st_size)
        if sendfile {
            let file = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: descriptor)
            return respond(
                context, size: size, body: .fileRegion(FileRegion(fileHandle: file, readerIndex: 0, endIndex: size)),
                file: file)
        }
        var buffer = context.channel.allocator.buffer(capacity: size)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { raw in
            max(0, pread(descriptor, raw.baseAddress, size, 0))
        }
        close(descriptor)
        respond(context, size: buffer.readableBytes, body: .byteBuffer(buffer), file: nil)
    }

    private func respond(_ context: ChannelHandlerContext, size: Int, body: IOData?, file: NIOFileHandle?) {
        var headers = HTTPHeaders()
        headers.add(name: "accept-ranges", value: "bytes")
        headers.add(name: "last-modified", value: "Tue, 01 Dec 2026 10:00:00 GMT")
        headers.add(name: "etag", value: "\"6932e0a0-4000\"")
        headers.add(name: "content-length", value: String(size))
        headers.add(name: "date", value: "Tue, 01 Dec 2026 10:00:00 GMT")
        let head = HTTPResponseHead(version: .http1_1, status: body == nil ? .notFound : .ok, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if let body { context.write(wrapOutboundOut(.body(body)), promise: nil) }
        if let file {
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in try? file.close() }
        } else {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
