import AsyncHTTPClient
import Hummingbird
import HummingbirdTesting
import ListService
import NIOCore
import NIOHTTP1

/// The three ways a request reaches `ListServer`'s application in-process.
enum Route: String, CaseIterable, Sendable, CustomStringConvertible {
    /// Straight to the router, with no server or connection.
    case router
    /// Over loopback HTTP with HummingbirdTesting's client, which sends
    /// `Connection: keep-alive`: `ListFastPath` hands every such request on to the router.
    case keepAlive
    /// Over loopback HTTP without a `Connection` header, as wrk, curl and quick-mirror ask:
    /// `ListFastPath` answers a list GET or HEAD on the event loop itself.
    case plain

    var description: String { rawValue }
}

/// A response as a client sees it: header names lowercased.
struct Answer: Sendable {
    var status: Int
    var headers: [String: String]
    var body: [UInt8]

    var text: String { String(decoding: body, as: UTF8.self) }
}

typealias Ask = @Sendable (_ path: String, _ method: HTTPRequest.Method, _ headers: HTTPFields) async throws -> Answer

extension PublishedLists {
    /// Asks for the identity coding, as wrk and a polling mirror do unless told otherwise
    /// (AsyncHTTPClient's shared client asks for gzip).
    static let plainClient: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.decompression = .disabled
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    /// Runs `body` with a way to ask the application the daemon would run, along `route`.
    /// A live server listens on an ephemeral port of localhost and stops with `body`.
    func asking<T: Sendable>(_ route: Route, _ body: @escaping @Sendable (Ask) async throws -> T) async throws -> T {
        let application = application()
        switch route {
        case .router, .keepAlive:
            return try await application.test(route == .router ? .router : .live) { client in
                try await body { path, method, headers in
                    let response = try await client.executeRequest(
                        uri: path, method: method, headers: headers, body: nil)
                    var answer = Answer(
                        status: Int(response.status.code), headers: [:], body: Array(buffer: response.body))
                    for field in response.headers { answer.headers[field.name.canonicalName] = field.value }
                    return answer
                }
            }
        case .plain:
            return try await application.test(.live) { client in
                let port = client.port!
                return try await body { path, method, headers in
                    var request = HTTPClientRequest(url: "http://localhost:\(port)\(path)")
                    request.method = HTTPMethod(rawValue: method.rawValue)
                    for field in headers { request.headers.add(name: field.name.rawName, value: field.value) }
                    let response = try await Self.plainClient.execute(request, timeout: .seconds(10))
                    var answer = Answer(
                        status: Int(response.status.code), headers: [:],
                        body: Array(buffer: try await response.body.collect(upTo: 1 << 24)))
                    for header in response.headers { answer.headers[header.name.lowercased()] = header.value }
                    return answer
                }
            }
        }
    }
}
