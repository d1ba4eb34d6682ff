import AsyncHTTPClient

/// The HTTP client that fetches lists. AsyncHTTPClient's shared client decompresses
/// on its own and refuses anything that grows more than 25 times: a list of very alike
/// paths can, and quick-mirror asks for gzip on purpose, to check the SHA-256 its ETag
/// names on the bytes it decompressed itself. This one leaves bodies as they came.
public enum ListHTTPClient {
    public static let shared: HTTPClient = {
        var configuration = HTTPClient.Configuration.singletonConfiguration
        configuration.decompression = .disabled
        // A process-wide client, like the shared one: it lives until the process ends.
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()
}
