import FileList
import AsyncHTTPClient
import ListProtocol
import Logging
import NIOCore
import NIOHTTP1

/// The one way a downstream asks a list server for a newer version of a list: quick-mirror
/// (and so the lists a relay serves) and mirror-cache's listing.
///
/// 1. From a filelistd (the ETag held is a list digest), the delta since the version held
///    (`/changes`), applied to the bytes held and checked against the digest it names. Any
///    doubt about a delta (it does not decode, does not apply, or gives other bytes) falls
///    back to the whole list, never to a guess; so do 410 Gone (older than the server's
///    journal) and 404 (not a filelistd).
/// 2. Otherwise a conditional GET (`If-None-Match`, `If-Modified-Since`) asking for gzip.
/// 3. A whole list whose ETag names a list digest must have it (`ListBody`).
///
/// A request that finds no server or a 5xx (an upstream restarting) is tried again
/// `retries` times, paced by `backoff`; other answers are final.
public struct ListFetch: Sendable {
    /// The list server's base URL, without a trailing slash.
    public var base: String
    /// Bounds each request; nil: no bound.
    public var timeout: Duration?
    public var retries = 0
    public var backoff = Backoff(first: .seconds(2))
    public var logger: Logger

    public init(base: String, timeout: Duration?, logger: Logger) {
        self.base = base
        self.timeout = timeout
        self.logger = logger
    }

    /// The version of a list the client holds, with what the server said about it.
    public struct Held: Sendable {
        public var etag: String?
        public var lastModified: String?
        /// Its bytes: asked for only when a delta comes, so a caller may leave them on disk.
        public var bytes: @Sendable () throws -> [UInt8]
        /// Applies a delta that starts from this version where the caller keeps it, and
        /// checks the result against the digest the delta names; throws when it cannot.
        /// When set, `bytes` is asked for only if this fails.
        public var apply: (@Sendable (FileListDelta) throws -> AppliedDelta)?

        public init(
            etag: String?, lastModified: String?, bytes: @escaping @Sendable () throws -> [UInt8],
            apply: (@Sendable (FileListDelta) throws -> AppliedDelta)? = nil
        ) {
            self.etag = etag
            self.lastModified = lastModified
            self.bytes = bytes
            self.apply = apply
        }
    }

    public enum Answer: Sendable {
        /// The server says the version held is current.
        case unchanged
        case fetched(FetchedList)
    }

    public func fetch(_ path: String, held: Held?) async throws(ListTransportError) -> Answer {
        var refusedDelta: String?
        if let held, let etag = held.etag, let digest = EntityTag(etag)?.listDigest {
            let url = ListURL.changes(base: base, path: path, since: digest)
            let response = try await get(url)
            switch response.status {
            case .notModified:
                return .unchanged
            case .ok:
                let body = response.body ?? ByteBuffer()
                let source = held.bytes
                if let apply = held.apply {
                    do throws(ListTransportError) {
                        let applied = try await ListWork.run { () throws(ListTransportError) in
                            let delta = try ListDeltaAnswer.decoded(body, url: url, since: digest)
                            do { return try apply(delta) } catch { throw ListTransportError("\(error)") }
                        }
                        return .fetched(
                            FetchedList(
                                content: .applied, etag: EntityTag.list(digest: applied.delta.result).description,
                                lastModified: nil, attributes: Self.attributes(response.headers),
                                transfer: .delta(edits: applied.delta.editCount), segments: applied.segments,
                                applied: applied))
                    } catch {
                        // Applied in memory instead, from the held bytes.
                        logger.debug("delta not applied where the list is: \(error)", metadata: ["list": "\(path)"])
                    }
                }
                do throws(ListTransportError) {
                    let rebuilt = try await ListWork.run { () throws(ListTransportError) in
                        let installed: [UInt8]
                        do { installed = try source() } catch { throw ListTransportError("\(error)") }
                        return try ListDeltaAnswer.rebuilt(body, url: url, since: digest, installed: installed)
                    }
                    return .fetched(
                        FetchedList(
                            content: .rebuilt(rebuilt.list), etag: EntityTag.list(digest: rebuilt.digest).description,
                            lastModified: nil, attributes: Self.attributes(response.headers),
                            transfer: .delta(edits: rebuilt.edits), segments: rebuilt.segments))
                } catch {
                    refusedDelta = error.description
                }
            default:
                break  // 410 Gone: older than the server's journal; 404: not a filelistd.
            }
        }
        let url = ListURL.list(base: base, path: path)
        var headers = HTTPHeaders([("Accept-Encoding", ListCoding.gzip)])
        if let etag = held?.etag { headers.add(name: "If-None-Match", value: etag) }
        if let date = held?.lastModified { headers.add(name: "If-Modified-Since", value: date) }
        let response = try await get(url, headers: headers)
        switch response.status {
        case .notModified where held?.etag != nil || held?.lastModified != nil:
            return .unchanged
        case .ok:
            let (body, etag, compressed, segments) = try await ListWork.run { () throws(ListTransportError) in
                try ListBody.decoded(response, url: url)
            }
            var list = FetchedList(
                content: .body(body), etag: etag, lastModified: response.headers.first(name: "Last-Modified"),
                attributes: Self.attributes(response.headers), transfer: .whole(compressed: compressed),
                segments: segments)
            list.refusedDelta = refusedDelta
            return .fetched(list)
        default:
            throw ListTransportError(
                "cannot fetch \(url): HTTP \(response.status.code) \(response.status.reasonPhrase)")
        }
    }

    /// One request, tried again while the server is unreachable or answers 5xx.
    private func get(_ url: String, headers: HTTPHeaders = [:]) async throws(ListTransportError) -> HTTPClient.Response {
        let outcome = await backoff.run(retries: retries) { retry, pause, outcome in
            let reason: String
            switch outcome {
            case .success(let response): reason = "\(url) answered HTTP \(response.status.code)"
            case .failure(let error): reason = error.description
            }
            logger.warning(
                "\(reason); retry \(retry) of \(retries) in \(Int(Backoff.seconds(pause))) s",
                metadata: ["url": "\(url)"])
        } _: { () async -> Backoff.Attempt<Result<HTTPClient.Response, ListTransportError>> in
            do throws(ListTransportError) {
                let response = try await once(url, headers: headers)
                return response.status.code >= 500 ? .again(.success(response)) : .done(.success(response))
            } catch {
                return .again(.failure(error))
            }
        }
        return try outcome.get()
    }

    private func once(_ url: String, headers: HTTPHeaders) async throws(ListTransportError) -> HTTPClient.Response {
        do {
            var request = try HTTPClient.Request(url: url, method: .GET)
            request.headers.add(contentsOf: headers)
            let deadline = timeout.map { NIODeadline.now() + .nanoseconds(Int64(Backoff.seconds($0) * 1e9)) }
            // The future API gathers the body on SwiftNIO's threads (see HTTPProbe).
            return try await ListHTTPClient.shared.execute(request: request, deadline: deadline).get()
        } catch {
            throw ListTransportError("cannot fetch \(url): \(error)")
        }
    }

    private static func attributes(_ headers: HTTPHeaders) -> ListFileAttributes? {
        ListFileAttributes(
            mode: headers.first(name: ListFileAttributes.modeHeader),
            time: headers.first(name: ListFileAttributes.timeHeader))
    }
}

/// A newer version of a list, as it came.
public struct FetchedList: Sendable {
    public var content: ListContent
    /// The ETag to send back next time (for a filelistd's list, its identity ETag).
    public var etag: String?
    public var lastModified: String?
    /// The mode and time upstream gives the list, from filelistd's headers.
    public var attributes: ListFileAttributes?
    public var transfer: Transfer
    /// Why the delta the server sent could not be used, when the whole list came instead.
    public var refusedDelta: String?
    /// The segments of the list, when its bytes were checked against a list digest.
    public var segments: [ListSegment]?
    /// What the holder's `apply` made of the delta, when it applied one.
    public var applied: AppliedDelta?

    public init(
        content: ListContent, etag: String?, lastModified: String?, attributes: ListFileAttributes?,
        transfer: Transfer, segments: [ListSegment]? = nil, applied: AppliedDelta? = nil
    ) {
        self.content = content
        self.etag = etag
        self.lastModified = lastModified
        self.attributes = attributes
        self.transfer = transfer
        self.segments = segments
        self.applied = applied
    }

    public enum Transfer: Sendable, Equatable {
        case delta(edits: Int)
        /// `compressed`: the bytes that crossed the network, when they came gzip-compressed.
        case whole(compressed: Int?)
    }

    /// The list's modification time as upstream has it: to the nanosecond from filelistd,
    /// to the second from another web server's `Last-Modified`; nil when neither says.
    public var time: (seconds: Int, nanoseconds: Int)? {
        if let attributes { return (attributes.seconds, attributes.nanoseconds) }
        return lastModified.flatMap(HTTPDate.seconds(from:)).map { ($0, 0) }
    }
}

/// A list's bytes in the form they arrived in: a response body, or a list rebuilt from a
/// delta. Neither is copied into the other's form unless a caller asks: a list can be
/// hundreds of megabytes.
public enum ListContent: Sendable {
    case body(ByteBuffer)
    case rebuilt([UInt8])
    /// Written where the holder keeps it, by its `apply`.
    case applied

    public func withUnsafeBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        switch self {
        case .body(let buffer): try buffer.withUnsafeReadableBytes(body)
        case .rebuilt(let bytes): try bytes.withUnsafeBytes(body)
        case .applied: try body(UnsafeRawBufferPointer(start: nil, count: 0))
        }
    }

    public var bytes: [UInt8] {
        switch self {
        case .body(let buffer): Array(buffer.readableBytesView)
        case .rebuilt(let bytes): bytes
        case .applied: []
        }
    }
}

/// A delta its holder applied to the list it keeps (`ListFetch.Held.apply`): the result,
/// checked against the digest the delta names, with its segments and the splices that
/// made it from the held bytes (in their offsets).
public struct AppliedDelta: Sendable {
    public var delta: FileListDelta
    public var segments: [ListSegment]
    public var splices: [ListSplice]
    /// Where the held list's `[Files]` lines are.
    public var files: FilesSection

    public init(delta: FileListDelta, segments: [ListSegment], splices: [ListSplice], files: FilesSection) {
        self.delta = delta
        self.segments = segments
        self.splices = splices
        self.files = files
    }
}
