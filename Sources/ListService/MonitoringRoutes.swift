import ConnectionGuard
import Hummingbird

/// `GET /metrics` and `GET /healthz`, and the counting of every routed response.
enum MonitoringRoutes {
    /// Before any other route: a middleware applies to the routes added after it.
    static func add(to router: Router<some RequestContext>, catalog: ListCatalog, gate: ConnectionGate) {
        router.add(middleware: RequestCounting(catalog: catalog))
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: MetricsExport.contentType],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: MetricsExport.render(catalog, gate: gate))))
        }
        router.get("/healthz") { _, _ in
            guard let problem = healthProblem(catalog) else {
                return Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: "ok\n")))
            }
            return Response(
                status: .serviceUnavailable, headers: [.retryAfter: "5"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: problem + "\n")))
        }
    }

    /// Why the server has nothing true to serve; nil when it has. At the origin: the
    /// publisher's first list, and its publishing still working. At a relay (no publisher
    /// of its own) and at the origin alike: every list it serves readable.
    static func healthProblem(_ catalog: ListCatalog) -> String? {
        if let problem = catalog.publisher?.problem { return problem }
        let unreadable = catalog.lists.filter { catalog.version(of: $0) == nil }
        guard unreadable.isEmpty else { return "lists not readable: \(unreadable.joined(separator: " "))" }
        return nil
    }
}
