import AsyncHTTPClient
import Foundation
import ListProtocol
import ListTransport
import NIOCore
import NIOPosix

/// Reading what a mirror says it holds: a filelistd's `/status`, or a trace file (over
/// HTTP, or a local path). Bounded in size and in time: the server at the other end may
/// be broken or hostile, and a monitoring check must answer either way.
enum StatusFetch {
    /// A real status answer is tens of kilobytes (256 recent generations).
    static let limit = 4 << 20

    /// What a URL given to `quick-mirror status` names: a server's base URL (its
    /// `/status` is asked), a `/status` URL, the URL of a trace file, or a local path.
    static func location(of given: String) -> String {
        guard given.hasPrefix("http://") || given.hasPrefix("https://") else { return given }
        let afterScheme = given[given.index(given.firstIndex(of: ":")!, offsetBy: 3)...]
        let path = afterScheme.drop { $0 != "/" }
        if path.isEmpty || path == "/" { return (given.hasSuffix("/") ? String(given.dropLast()) : given) + "/status" }
        return given
    }

    /// Starts reading `location`; the answer's bytes, or why there are none, one line.
    static func start(_ location: String, timeout: Double) -> EventLoopFuture<Result<[UInt8], StatusProblem>> {
        let eventLoop = ListHTTPClient.shared.eventLoopGroup.next()
        guard location.hasPrefix("http://") || location.hasPrefix("https://") else {
            return eventLoop.makeSucceededFuture(readFile(location))
        }
        let request: HTTPClient.Request
        do {
            request = try HTTPClient.Request(url: location, method: .GET, headers: ["Accept": "application/json"])
        } catch {
            return eventLoop.makeSucceededFuture(.failure(StatusProblem("not a URL: \(error)")))
        }
        let task = ListHTTPClient.shared.execute(
            request: request, delegate: ResponseAccumulator(request: request, maxBodySize: limit),
            deadline: .now() + .milliseconds(Int64(timeout * 1000)))
        return task.futureResult.map { response -> Result<[UInt8], StatusProblem> in
            guard response.status == .ok else {
                return .failure(StatusProblem("HTTP \(response.status.code) \(response.status.reasonPhrase)"))
            }
            return .success(response.body.map { Array($0.readableBytesView) } ?? [])
        }.recover { error in
            .failure(StatusProblem(describe(error, timeout: timeout)))
        }
    }

    static func readFile(_ location: String) -> Result<[UInt8], StatusProblem> {
        let path = location.hasPrefix("file://") ? String(location.dropFirst("file://".count)) : location
        guard let handle = FileHandle(forReadingAtPath: path) else {
            return .failure(StatusProblem("cannot read \(path): \(String(cString: strerror(errno)))"))
        }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: limit + 1)) ?? Data()
        guard data.count <= limit else { return .failure(StatusProblem("larger than \(limit >> 20) MiB")) }
        return .success(Array(data))
    }

    static func describe(_ error: any Error, timeout: Double) -> String {
        if error is ResponseAccumulator.ResponseTooBigError { return "answer larger than \(limit >> 20) MiB" }
        if let error = error as? HTTPClientError {
            if error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
                return "no answer within \(Int(timeout)) s"
            }
            if error == .remoteConnectionClosed { return "the connection closed before the answer was complete" }
        }
        if let error = error as? NIOConnectionError, let first = error.connectionErrors.first {
            if let io = first.error as? IOError { return "cannot connect: \(String(cString: strerror(io.errnoCode)))" }
            return "cannot connect: \(first.error)"
        }
        if let io = error as? IOError { return "cannot connect: \(String(cString: strerror(io.errnoCode)))" }
        let text = "\(error)".replacingOccurrences(of: "\n", with: " ")
        return text.count > 160 ? String(text.prefix(160)) + "..." : text
    }

    /// What the bytes say: a filelistd's status, or a trace file.
    static func reading(_ bytes: [UInt8]) throws(StatusProblem) -> MirrorReading {
        let first = bytes.first { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }
        if first == UInt8(ascii: "{") { return .status(try ServerStatus(validating: bytes)) }
        if bytes.starts(with: Array(TraceFile.magic.prefix(17).utf8)) { return .trace(try TraceFile(parsing: bytes)) }
        throw StatusProblem(first == nil ? "an empty answer" : "not JSON")
    }
}

/// One mirror's answer to `quick-mirror status`.
enum MirrorReading {
    case status(ServerStatus)
    case trace(TraceFile)
}
