import AsyncHTTPClient
import ListTransport
import Logging
import NIOCore
import NIOHTTP1

/// Asks the list server for a newer version of one list, the way quick-mirror does:
/// from a filelistd, the delta since the version held (`/changes`, checked against the
/// SHA-256 its ETag names); from any web server, a conditional GET (`If-None-Match`,
/// `If-Modified-Since`), gzip-compressed when the server offers it.
struct ListFetcher: Sendable {
    var base: String
    var timeout: Duration
    var logger: Logger

    /// What the list server said about the version held.
    enum Answer {
        case unchanged
        case new(ListVersionHeld, transfer: String)
    }

    func fetch(_ location: ListLocation, held: ListVersionHeld?) async throws -> Answer {
        if let held, let etag = held.etag, let digest = ListURL.digest(ofETag: etag) {
            let url = ListURL.changes(base: base, path: location.path, since: digest)
            let response = try await get(url, headers: [:])
            switch response.status {
            case .notModified:
                return .unchanged
            case .ok:
                do {
                    let installed = held.bytes
                    let rebuilt = try await ListWork.run {
                        try ListDeltaAnswer.rebuilt(
                            response.body ?? ByteBuffer(), url: url, since: digest, installed: installed)
                    }
                    let version = ListVersionHeld(bytes: rebuilt.list, etag: "\"\(rebuilt.digest)\"", lastModified: nil)
                    return .new(version, transfer: "delta of \(rebuilt.edits) edits")
                } catch {
                    logger.warning(
                        "delta not usable; fetching the whole list",
                        metadata: ["list": "\(location.path)", "url": "\(url)", "error": "\(error)"])
                }
            default:
                break  // 410 Gone: older than the server's journal; 404: not a filelistd.
            }
        }
        let url = ListURL.list(base: base, path: location.path)
        var headers = ["Accept-Encoding": "gzip"]
        if let etag = held?.etag { headers["If-None-Match"] = etag }
        if let date = held?.lastModified { headers["If-Modified-Since"] = date }
        let response = try await get(url, headers: headers)
        switch response.status {
        case .notModified where held != nil:
            return .unchanged
        case .ok:
            let (bytes, etag, compressed) = try await ListWork.run {
                let (body, etag, compressed) = try ListBody.decoded(response, url: url)
                return (Array(buffer: body), etag, compressed)
            }
            // A server without validators sends the same bytes again: not a new version.
            if let held, held.bytes == bytes { return .unchanged }
            let version = ListVersionHeld(
                bytes: bytes, etag: etag, lastModified: response.headers.first(name: "Last-Modified"))
            return .new(version, transfer: compressed.map { "whole list, \($0) bytes gzip" } ?? "whole list")
        default:
            throw ListTransportError(
                "cannot fetch \(url): HTTP \(response.status.code) \(response.status.reasonPhrase)")
        }
    }

    private func get(_ url: String, headers: [String: String]) async throws -> HTTPClient.Response {
        var request = try HTTPClient.Request(url: url, method: .GET)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        do {
            // The future API gathers the body on SwiftNIO's threads (see HTTPProbe).
            return try await ListHTTPClient.shared.execute(
                request: request, deadline: .now() + .seconds(timeout.components.seconds)
            ).get()
        } catch {
            throw ListTransportError("cannot fetch \(url): \(error)")
        }
    }
}

/// The version of a list the listing holds, with what the server said about it.
struct ListVersionHeld: Sendable {
    var bytes: [UInt8]
    var etag: String?
    var lastModified: String?
}
