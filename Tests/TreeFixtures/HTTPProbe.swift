import AsyncHTTPClient
import Foundation
import NIOCore

/// Plain HTTP requests against a server on 127.0.0.1, as a downstream mirror makes them.
/// Bodies come as the server sent them: a test that wants gzip asks for it.
public enum HTTPProbe {
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration.singletonConfiguration
        configuration.decompression = .disabled
        configuration.timeout.read = .seconds(30)
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    public struct Response: Sendable {
        public var status: Int
        public var headers: [String: String]
        public var body: [UInt8]
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// The whole response, gathered on SwiftNIO's threads: the body of a large list does
    /// not wait for a Swift task to ask for each piece, so tests that block the
    /// cooperative threads (running commands, waiting on processes) cannot stall it
    /// into a read timeout.
    public static func get(_ url: String, headers: [String: String] = [:]) async throws
        -> Response
    {
        var request = try HTTPClient.Request(url: url, method: .GET)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await client.execute(request: request, deadline: .now() + .seconds(60)).get()
        var fields: [String: String] = [:]
        for header in response.headers { fields[header.name.lowercased()] = header.value }
        return Response(
            status: Int(response.status.code), headers: fields, body: response.body.map { Array(buffer: $0) } ?? [])
    }

    /// The events of `url` (a text/event-stream), until `count` arrived or `timeout` passed.
    /// `whileConnected` runs once the stream is open (to make the change it waits for).
    /// A stream the server ends returns the events it carried; one that breaks off throws.
    public static func events(
        _ url: String, count: Int, timeout: Duration = .seconds(30), headers: [String: String] = [:],
        whileConnected: @escaping @Sendable () async throws -> Void = {}
    ) async throws -> [String] {
        try await withThrowingTaskGroup(of: [String]?.self) { group in
            group.addTask {
                var request = HTTPClientRequest(url: url)
                for (name, value) in headers { request.headers.add(name: name, value: value) }
                let response = try await client.execute(request, timeout: .hours(1))
                var events: [String] = []
                var pending = ""
                var started = false
                for try await chunk in response.body {
                    if !started {
                        started = true
                        try await whileConnected()
                    }
                    pending += String(buffer: chunk)
                    while let end = pending.range(of: "\n\n") {
                        let event = String(pending[..<end.lowerBound])
                        pending = String(pending[end.upperBound...])
                        if !event.hasPrefix(":") { events.append(event) }
                        if events.count == count { return events }
                    }
                }
                return events
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return first ?? []
        }
    }

    /// The port a filelistd logged (`serving HTTP ... address=HOST:PORT`), once it has.
    public static func port(inLog log: () -> String, timeout: Duration = .seconds(30)) -> Int? {
        var port: Int?
        DaemonProcess.wait(timeout: timeout) {
            guard let line = log().split(separator: "\n").first(where: { $0.contains("serving HTTP") }),
                let range = line.range(of: #"address=[^ ]*:([0-9]+)"#, options: .regularExpression)
            else { return false }
            port = Int(line[range].split(separator: ":").last ?? "")
            return port != nil
        }
        return port
    }
}
