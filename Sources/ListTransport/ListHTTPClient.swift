import AsyncHTTPClient
import NIOCore

/// The project's HTTP client: one configuration, and the process-wide client made with it
/// (lists, deltas, the change stream, the MirrorManager check-in). mirror-cache makes its
/// own with the same configuration on its server's event loops (`make(on:)`), so that a
/// fetched chunk reaches the connection waiting for it without changing threads.
public enum ListHTTPClient {
    public static var configuration: HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .follow(max: 10, allowCycles: false),
            // No read timeout: each caller bounds its requests (a deadline, mirror-cache's
            // stall watch); a change stream and a transfer to a slow client are long and
            // quiet at times, and that is not a failure.
            timeout: HTTPClient.Configuration.Timeout(connect: .seconds(10)))
        // Bodies as they came. AsyncHTTPClient's decompression refuses anything that grows
        // more than 25 times, which a list of very alike paths does; quick-mirror asks for
        // gzip on purpose, to check the digest its ETag names on the bytes it decompressed
        // itself; and mirror-cache passes an upstream's bytes on untouched.
        configuration.decompression = .disabled
        // A refused connection fails at once. By default AsyncHTTPClient retries connecting
        // until the request's deadline, which held every check-in attempt for minutes while
        // MirrorManager was down, and a list request with no timeout forever; retries are
        // the caller's, paced by `Backoff`, and mirror-cache fails over to its next upstream.
        configuration.connectionPool.retryConnectionEstablishment = false
        return configuration
    }

    /// A process-wide client, like AsyncHTTPClient's shared one: it lives until the process ends.
    public static let shared = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)

    /// A client on `group`'s event loops; the caller shuts it down.
    public static func make(on group: any EventLoopGroup) -> HTTPClient {
        HTTPClient(eventLoopGroupProvider: .shared(group), configuration: configuration)
    }
}
