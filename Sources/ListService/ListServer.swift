import ConnectionGuard
import ListProtocol
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

/// The HTTP face of a list server: each list with a strong ETag (conditional GETs cost
/// a header), `/changes` for deltas, `/events` for the change stream. Nothing else of
/// the tree is served: a path that is not one of the catalog's lists is a 404.
public enum ListServer {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        /// How often an idle event stream carries a comment line.
        public var heartbeat: Duration = .seconds(15)
        /// `POST /rescan` for writers on other hosts; nil: refused to everyone.
        public var rescan: RemoteRescan?
        /// The limits every connection is held to, and their counts (shared by every
        /// connection, whichever socket accepted it).
        public var gate = ConnectionGate()

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        /// `127.0.0.1:8080`, `[::1]:8080`, `:8080` (all addresses).
        public init(listen: String) throws(ListServiceError) {
            guard let address = ListenAddress(listen) else {
                throw ListServiceError(
                    "'\(listen)' is not an address to listen on: give HOST:PORT, e.g. 127.0.0.1:8080")
            }
            self.init(host: address.host, port: address.port)
        }
    }

    /// The application the daemon runs; tests build the same one on an ephemeral port.
    /// `onListening` gets the bound port.
    public static func buildApplication(
        catalog: ListCatalog, configuration: Configuration, logger: Logger,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router()
        MonitoringRoutes.add(to: router, catalog: catalog, gate: configuration.gate)
        router.get("/events") { request, _ in
            events(catalog, request, heartbeat: configuration.heartbeat, gate: configuration.gate)
        }
        router.get("/changes") { request, _ in await changes(catalog, request) }
        StatusRoutes.add(to: router, catalog: catalog)
        router.get("/**") { request, _ in list(catalog, request, head: false) }
        router.head("/**") { request, _ in list(catalog, request, head: true) }
        let gate = configuration.gate
        let http1 = HTTP1Channel.Configuration(
            additionalChannelHandlers: connectionHandlers(
                catalog: catalog, serverName: serverName, rescan: configuration.rescan))
        return Application(
            router: router,
            server: HTTPServerBuilder { responder in
                GuardedChannel(inner: HTTP1Channel(responder: responder, configuration: http1), gate: gate)
            },
            configuration: ApplicationConfiguration(
                address: .hostname(configuration.host, port: configuration.port), serverName: serverName),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? configuration.port) },
            logger: logger)
    }

    static let serverName = "filelistd"

    /// The handlers every connection gets after HTTP decoding, whichever server accepted
    /// it (an address it bound, or a socket systemd passed): made anew per connection.
    static func connectionHandlers(catalog: ListCatalog, serverName: String, rescan: RemoteRescan?)
        -> [any RemovableChannelHandler]
    {
        [HTTPTypesResponseTracker(), RescanEndpoint(rescan: rescan), ListFastPath(catalog: catalog, serverName: serverName)]
    }

    /// The path as the catalog names it: percent-decoded once (clients escape spaces and
    /// non-ASCII bytes); only exact catalog names are ever served.
    static func listPath(_ request: Request) -> String { listPath(request.uri.path) }

    static func listPath(_ path: String) -> String {
        let bytes = Substring(path).utf8.drop(while: { $0 == UInt8(ascii: "/") })
        guard bytes.contains(UInt8(ascii: "%")) else { return String(decoding: bytes, as: UTF8.self) }
        // Not valid percent-encoding: never a catalog name.
        guard let decoded = PercentCoding.decode(Substring(bytes)) else { return path }
        return String(decoding: decoded, as: UTF8.self)
    }

    /// The same answer as `ListFastPath` gives (the same representation, plain or gzip),
    /// for the requests it hands on (pipelined behind another, or with a `Connection`
    /// header), streamed from the same file.
    static func list(_ catalog: ListCatalog, _ request: Request, head: Bool) -> Response {
        let path = listPath(request)
        guard let version = catalog.version(of: path) else {
            // A list of ours not read yet (the first scan is running, or it was removed):
            // a client should come back, not conclude the list is gone for good.
            return catalog.lists.contains(path)
                ? Response(status: .serviceUnavailable, headers: [.retryAfter: "5"]) : Response(status: .notFound)
        }
        let gzip = request.headers[.acceptEncoding].map { ListCoding.acceptsGzip(Substring($0).utf8) } ?? false
        let form = version.representation(acceptingGzip: gzip)
        if let match = request.headers[.ifNoneMatch], version.isMatched(by: match) {
            return Response(status: .notModified, headers: form.notModifiedHeaders)
        }
        if head { return Response(status: .ok, headers: form.headers) }
        return Response(
            status: .ok, headers: form.headers,
            body: ResponseBody(contentLength: form.size) { writer in
                var offset = 0
                while offset < form.size {
                    let chunk = try ListVersion.chunk(
                        of: form.descriptor, size: form.size, at: offset, count: 1 << 20, path: version.path)
                    guard chunk.readableBytes > 0 else { break }
                    offset += chunk.readableBytes
                    try await writer.write(chunk)
                }
                try await writer.finish(nil)
            })
    }

    /// `GET /changes?list=PATH&since=DIGEST`: 304 when the client is current, the delta
    /// from its version when it is in the journal, 410 Gone when not (fetch the list).
    static func changes(_ catalog: ListCatalog, _ request: Request) async -> Response {
        let query = request.uri.query ?? ""
        guard let path = PercentCoding.values(of: "list", inQuery: query)?.first,
            let since = PercentCoding.values(of: "since", inQuery: query)?.first
        else {
            return Response(
                status: .badRequest,
                body: ResponseBody(byteBuffer: ByteBuffer(string: "give ?list=PATH&since=DIGEST (the list's ETag)\n")))
        }
        // Not a list digest: no version has it, so the client is told to fetch the list.
        let digest = EntityTag.listDigest(named: since) ?? since
        guard let (answer, version) = await catalog.changes(of: path, since: digest) else {
            return Response(status: .notFound)
        }
        switch answer {
        case .unchanged:
            return Response(status: .notModified, headers: [.eTag: version.etag])
        case .gone:
            return Response(status: .gone, headers: [.eTag: version.etag])
        case .delta(let bytes):
            // The rebuilt list is this version: it gets this version's mode and time.
            var headers: HTTPFields = [
                .eTag: version.etag, .contentType: "text/plain; charset=utf-8", .cacheControl: "no-cache",
            ]
            version.attributes.add(to: &headers)
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
        }
    }

    /// `GET /events`: what the client missed since its `Last-Event-ID` (without one: the
    /// current announcement), then one event per new generation; ends when the catalog
    /// is closed (the server is stopping).
    static func events(_ catalog: ListCatalog, _ request: Request, heartbeat: Duration, gate: ConnectionGate)
        -> Response
    {
        // Each stream holds a connection, a task and a buffer for as long as its client
        // stays: past the cap a client is told to come back, as at a full connection cap.
        guard let ticket = gate.admitSubscriber() else {
            return Response(
                status: .serviceUnavailable, headers: [.retryAfter: "30"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: "too many /events streams; try again later\n")))
        }
        let wanted = ServerSentEvents.lastEventIDHeader.lowercased()
        let lastEventID = request.headers.first(where: { $0.name.canonicalName == wanted })?.value
        return Response(
            status: .ok,
            headers: [.contentType: ServerSentEvents.contentType, .cacheControl: "no-cache"],
            body: ResponseBody { writer in
                defer { ticket.release() }
                let (frames, sink) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(16))
                let events = catalog.subscribe(after: lastEventID)
                let forward = Task {
                    for await event in events { sink.yield(event.frame) }
                    sink.finish()
                }
                // A write is how a vanished client is noticed; the comment also keeps proxies open.
                let beat = Task {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: heartbeat)
                        sink.yield(ServerSentEvents.heartbeat)
                    }
                }
                defer {
                    forward.cancel()
                    beat.cancel()
                }
                for await frame in frames { try await writer.write(ByteBuffer(string: frame)) }
                try await writer.finish(nil)
            })
    }
}

/// A server child channel with a `ConnectionGuard` ahead of everything else in its
/// pipeline (before the HTTP decoder sees a byte), for the address-bound server and for
/// sockets systemd passes alike.
struct GuardedChannel<Inner: ServerChildChannel>: ServerChildChannel {
    typealias Value = Inner.Value
    let inner: Inner
    let gate: ConnectionGate

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        do {
            try channel.pipeline.syncOperations.addHandler(ConnectionGuard(gate: gate), position: .first)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return inner.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async { await inner.handle(value: value, logger: logger) }
}
