import Foundation
import Hummingbird
import ListProtocol

/// `GET /status` (JSON), the status page (`GET /` from a browser) and `GET /announcement`.
enum StatusRoutes {
    static func add(to router: Router<some RequestContext>, catalog: ListCatalog) {
        router.get("/status") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-cache"],
                body: ResponseBody(
                    byteBuffer: ByteBuffer(bytes: catalog.statusBody(now: Date().timeIntervalSince1970))))
        }
        router.get("/") { request, _ in
            guard wantsHTML(request) else {
                return Response(
                    status: .notFound,
                    body: ResponseBody(
                        byteBuffer: ByteBuffer(string: "a list server: its state is at /status, or here from a browser\n"))
                )
            }
            let page = StatusPage.render(catalog.pageFacts(now: Date().timeIntervalSince1970, chains: 12))
            return Response(
                status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-cache"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: page)))
        }
        router.get("/announcement") { request, _ in announcement(catalog, request) }
    }

    /// A browser asks for `text/html` first; `curl` and monitoring probes do not.
    static func wantsHTML(_ request: Request) -> Bool {
        guard let accept = request.headers[.accept] else { return false }
        return accept.split(separator: ",").contains {
            $0.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased() == "text/html"
        }
    }

    /// `GET /announcement`: the current announcement; with `list=PATH&etag=ETAG` pairs,
    /// the newest one still held whose lists have those ETags (404 when none has).
    static func announcement(_ catalog: ListCatalog, _ request: Request) -> Response {
        let query = request.uri.queryParameters
        let paths = query.getAll("list")
        let etags = query.getAll("etag")
        guard paths.count == etags.count else {
            return Response(
                status: .badRequest,
                body: ResponseBody(byteBuffer: ByteBuffer(string: "give list=PATH&etag=ETAG in pairs\n")))
        }
        let wanted = zip(paths, etags).map { (path: String($0), etag: String($1)) }
        guard let announcement = catalog.announcement(carrying: wanted) else {
            return Response(status: wanted.isEmpty ? .serviceUnavailable : .notFound)
        }
        return Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: announcement.json() + "\n")))
    }
}
