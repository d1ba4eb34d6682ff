import Hummingbird
import Metrics
import Monitoring

/// Counts the router's responses by status, and the list bodies it sends (whole lists,
/// deltas). The answers `ListFastPath` gives on the event loop never reach the router:
/// they are counted there, under the same names.
struct RequestCounting<Context: RequestContext>: RouterMiddleware {
    let catalog: ListCatalog
    /// Made once for the statuses this server answers; another one is made when seen.
    private let byStatus: [Int: Counter]
    private let wholeLists = Counter(
        label: MetricNames.listTransfers, dimensions: [(MetricNames.Label.kind, MetricNames.TransferKind.whole)])
    private let deltas = Counter(
        label: MetricNames.listTransfers, dimensions: [(MetricNames.Label.kind, MetricNames.TransferKind.delta)])

    init(catalog: ListCatalog) {
        self.catalog = catalog
        byStatus = Dictionary(uniqueKeysWithValues: [200, 304, 400, 404, 410, 500, 503].map { ($0, Self.counter($0)) })
    }

    static func counter(_ status: Int) -> Counter {
        Counter(label: MetricNames.httpRequests, dimensions: [(MetricNames.Label.status, String(status))])
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        let response: Response
        do {
            response = try await next(request, context)
        } catch {
            count((error as? any HTTPResponseError)?.status.code ?? 500)
            throw error
        }
        count(response.status.code)
        if response.status == .ok && request.method == .get {
            if request.uri.path == "/changes" {
                deltas.increment()
            } else if catalog.lists.contains(ListServer.listPath(request)) {
                wholeLists.increment()
            }
        }
        return response
    }

    private func count(_ status: Int) { (byStatus[status] ?? Self.counter(status)).increment() }
}

/// The counters of the answers `ListFastPath` gives on the event loop, shared by every
/// connection and made at first use (after the executable chose the backend): an
/// increment is one atomic add.
enum FastPathCounts {
    static let notModified = RequestCounting<BasicRequestContext>.counter(304)
    static let ok = RequestCounting<BasicRequestContext>.counter(200)
    static let wholeLists = Counter(
        label: MetricNames.listTransfers, dimensions: [(MetricNames.Label.kind, MetricNames.TransferKind.whole)])
}
