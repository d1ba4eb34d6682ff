import AsyncHTTPClient
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// Requests to the upstreams: one shared HTTP client, failing over in `--upstream`
/// order, and a body read that gives up on an upstream that goes quiet.
final class Upstream: Sendable {
    let client: HTTPClient
    let stallTimeout: Duration
    let metrics: CacheMetrics
    let logger: Logger

    struct Stalled: Error, CustomStringConvertible {
        var seconds: Double
        var description: String { "no byte for \(seconds) s" }
    }

    struct BadStatus: Error, CustomStringConvertible {
        var status: Int
        var description: String { "upstream answered \(status)" }
    }

    init(client: HTTPClient, stallTimeout: Duration, metrics: CacheMetrics, logger: Logger) {
        self.client = client
        self.stallTimeout = stallTimeout
        self.metrics = metrics
        self.logger = logger
    }

    /// One GET with the stall watch on the head and on every wait for a body chunk;
    /// `receive` gets the head first (returning false stops reading), then each chunk.
    /// The watch does not run while `receive` works: a slow client is not a stall.
    func get(
        _ url: String, method: HTTPMethod = .GET, headers: [(String, String)],
        head: @escaping @Sendable (HTTPClientResponse) async throws -> Bool,
        chunk: @escaping @Sendable (ByteBuffer) async throws -> Void
    ) async throws {
        let lastProgress = Shared(ContinuousClock.now)
        let waiting = Shared(true)
        let timeout = stallTimeout
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { [client, metrics] in
                var request = HTTPClientRequest(url: url)
                request.method = method
                for (name, value) in headers { request.headers.add(name: name, value: value) }
                // The stall watch bounds each wait; this deadline only catches a runaway.
                let response = try await client.execute(request, timeout: .hours(24))
                waiting.value = false
                guard try await head(response) else { return }
                lastProgress.value = .now
                waiting.value = true
                for try await buffer in response.body {
                    waiting.value = false
                    metrics.bytesFromUpstream.increment(by: Int64(buffer.readableBytes))
                    try await chunk(buffer)
                    lastProgress.value = .now
                    waiting.value = true
                }
            }
            group.addTask {
                while true {
                    try await Task.sleep(for: .milliseconds(100))
                    let quiet = ContinuousClock.now - lastProgress.value
                    if waiting.value, quiet > timeout {
                        let seconds =
                            Double(timeout.components.seconds)
                            + Double(timeout.components.attoseconds) / 1e18
                        throw Stalled(seconds: seconds)
                    }
                    if !waiting.value { lastProgress.value = .now }
                }
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    static func header(_ response: HTTPClientResponse, _ name: String) -> String? {
        response.headers.first(name: name)
    }

    static func contentLength(_ response: HTTPClientResponse) -> Int64? {
        header(response, "content-length").flatMap { Int64($0) }
    }

    /// `bytes START-END/TOTAL` of a 206.
    static func contentRange(_ response: HTTPClientResponse) -> (start: Int64, total: Int64?)? {
        guard let text = header(response, "content-range"), text.hasPrefix("bytes ") else { return nil }
        let spec = text.dropFirst(6)
        guard let dash = spec.firstIndex(of: "-"), let slash = spec.firstIndex(of: "/"),
            let start = Int64(spec[..<dash])
        else { return nil }
        return (start, Int64(spec[spec.index(after: slash)...]))
    }
}
