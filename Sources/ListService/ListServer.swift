import ChangeStream
import Foundation
import Hummingbird
import Logging

/// The HTTP face of a list server: each list with a strong ETag (conditional GETs cost
/// a header), `/changes` for deltas, `/events` for the change stream. Nothing else of
/// the tree is served: a path that is not one of the catalog's lists is a 404.
public enum ListServer {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        /// How often an idle event stream carries a comment line.
        public var heartbeat: Duration = .seconds(15)

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        /// `127.0.0.1:8080`, `[::1]:8080`, `:8080` (all addresses).
        public init(listen: String) throws(ListServiceError) {
            guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
                (0...65535).contains(port)
            else {
                throw ListServiceError(
                    "'\(listen)' is not an address to listen on: give HOST:PORT, e.g. 127.0.0.1:8080")
            }
            var host = String(listen[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            self.init(host: host.isEmpty ? "::" : host, port: port)
        }
    }

    /// The application the daemon runs; tests build the same one on an ephemeral port.
    /// `onListening` gets the bound port.
    public static func buildApplication(
        catalog: ListCatalog, configuration: Configuration, logger: Logger,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router()
        router.get("/events") { _, _ in events(catalog, heartbeat: configuration.heartbeat) }
        router.get("/changes") { request, _ in changes(catalog, request) }
        router.get("/announcement") { _, _ in
            guard let announcement = catalog.announcement else { return Response(status: .serviceUnavailable) }
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: announcement.json() + "\n")))
        }
        router.get("/**") { request, _ in list(catalog, request, head: false) }
        router.head("/**") { request, _ in list(catalog, request, head: true) }
        return Application(
            router: router,
            configuration: ApplicationConfiguration(
                address: .hostname(configuration.host, port: configuration.port), serverName: "filelistd"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? configuration.port) },
            logger: logger)
    }

    /// The path as the catalog names it: percent-decoded once (clients escape spaces and
    /// non-ASCII bytes); only exact catalog names are ever served.
    static func listPath(_ request: Request) -> String {
        let path = String(request.uri.path.drop(while: { $0 == "/" }))
        return path.removingPercentEncoding ?? path
    }

    static func list(_ catalog: ListCatalog, _ request: Request, head: Bool) -> Response {
        let path = listPath(request)
        guard let version = catalog.version(of: path) else {
            // A list of ours not read yet (the first scan is running, or it was removed):
            // a client should come back, not conclude the list is gone for good.
            return catalog.lists.contains(path)
                ? Response(status: .serviceUnavailable, headers: [.retryAfter: "5"]) : Response(status: .notFound)
        }
        var headers: HTTPFields = [
            .eTag: version.etag, .contentType: "text/plain; charset=utf-8", .cacheControl: "no-cache",
            .lastModified: httpDate(version.modified),
        ]
        headers[.contentLength] = "\(version.size)"
        if let match = request.headers[.ifNoneMatch], matches(match, version.etag) {
            return Response(status: .notModified, headers: headers)
        }
        if head { return Response(status: .ok, headers: headers) }
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody(contentLength: version.size) { writer in
                var offset = 0
                while offset < version.size {
                    let chunk = try version.chunk(at: offset, count: 1 << 20)
                    guard !chunk.isEmpty else { break }
                    try await writer.write(ByteBuffer(bytes: chunk))
                    offset += chunk.count
                }
                try await writer.finish(nil)
            })
    }

    /// If-None-Match compares weakly (RFC 9110): `W/"x"` matches `"x"`, `*` matches all.
    static func matches(_ header: String, _ etag: String) -> Bool {
        header.split(separator: ",").contains { candidate in
            var tag = candidate.trimmingCharacters(in: .whitespaces)
            if tag == "*" { return true }
            if tag.hasPrefix("W/") { tag.removeFirst(2) }
            return tag == etag
        }
    }

    /// `GET /changes?list=PATH&since=DIGEST`: 304 when the client is current, the delta
    /// from its version when it is in the journal, 410 Gone when not (fetch the list).
    static func changes(_ catalog: ListCatalog, _ request: Request) -> Response {
        let query = request.uri.queryParameters
        guard let path = query.get("list"), let since = query.get("since") else {
            return Response(
                status: .badRequest,
                body: ResponseBody(byteBuffer: ByteBuffer(string: "give ?list=PATH&since=SHA256 (the list's ETag)\n")))
        }
        let digest = since.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        guard let (answer, version) = catalog.changes(of: path, since: digest) else {
            return Response(status: .notFound)
        }
        switch answer {
        case .unchanged:
            return Response(status: .notModified, headers: [.eTag: version.etag])
        case .gone:
            return Response(status: .gone, headers: [.eTag: version.etag])
        case .delta(let bytes):
            return Response(
                status: .ok,
                headers: [.eTag: version.etag, .contentType: "text/plain; charset=utf-8", .cacheControl: "no-cache"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
        }
    }

    /// `GET /events`: the current announcement at once, then one per new generation.
    static func events(_ catalog: ListCatalog, heartbeat: Duration) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: ServerSentEvents.contentType, .cacheControl: "no-cache"],
            body: ResponseBody { writer in
                let (frames, sink) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(16))
                let announcements = catalog.subscribe()
                let forward = Task {
                    for await announcement in announcements { sink.yield(ServerSentEvents.frame(announcement)) }
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

    static func httpDate(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: date)
    }
}
