import ListProtocol
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Everything that is not a plain hit: misses (a new fetch or joining one), revalidation
/// of volatile metadata, refetches of copies the list says are stale, copies served
/// because no upstream answers, and pass-through when nothing may or can be stored.
extension MirrorCache {
    func serveSlowly(
        target: RequestTarget, query: String?, uri: String, range: ByteRange?, _ connection: ClientConnection,
        log: RequestLog
    ) async {
        do {
            if let query {
                try await passThrough(target, query: query, range: range, connection, log: log)
                return
            }
            for _ in 0..<3 {
                if try await serveOnce(target: target, range: range, connection, log: log) { return }
            }
            // Three looks found neither a stored copy nor a fetch to read (evicted at once,
            // not storable, fetches of it ending one after another): the client still gets
            // its bytes.
            try await passThrough(target, query: nil, range: range, connection, log: log)
        } catch {
            // Mid-body (the head went out): closing is the only honest end.
            connection.cut()
            log.done(status: 0, bytes: 0, how: "cut (\(error))")
        }
    }

    /// One look at the store and the fetches; false when the state moved under it (a
    /// fetch ended before this request could read from it): look again.
    private func serveOnce(
        target: RequestTarget, range: ByteRange?, _ connection: ClientConnection, log: RequestLog
    ) async throws -> Bool {
        var fallback = store.openComplete(target.key)
        defer { if let (descriptor, _) = fallback { try? descriptor.close() } }
        var conditional: CacheStore.Validators?
        if let (descriptor, info) = fallback {
            switch freshness(target, info) {
            case .fresh:
                fallback = nil
                let (status, bytes) = try await sendComplete(descriptor, info, target: target, range: range, connection)
                metrics.hits.increment()
                log.done(status: status, bytes: bytes, how: "hit")
                return true
            case .refetch: break
            case .revalidate(let validators): conditional = validators
            }
        }
        guard let (fetch, isNew) = await join(target, conditional: conditional) else { return false }
        (isNew ? metrics.misses : metrics.coalesced).increment()
        switch await fetch.head() {
        case .notModified:
            guard let (descriptor, info) = fallback else { return false }
            fallback = nil
            let (status, bytes) = try await sendComplete(descriptor, info, target: target, range: range, connection)
            log.done(status: status, bytes: bytes, how: "revalidated")
            return true
        case .unreachable(let reason):
            guard let (descriptor, info) = fallback else {
                try await connection.respond(
                    .badGateway, "no upstream answered for \(target.upstreamPath): \(reason)\n")
                log.done(status: 502, bytes: 0, how: "unreachable")
                return true
            }
            fallback = nil
            logger.warning(
                "upstream unreachable: serving the cached copy",
                metadata: ["path": "\(target.key)", "error": "\(reason)"])
            metrics.staleServed.increment()
            let (status, bytes) = try await sendComplete(descriptor, info, target: target, range: range, connection)
            log.done(status: status, bytes: bytes, how: "stale")
            return true
        case .status(let code, let reason):
            try await connection.respond(HTTPResponseStatus(statusCode: code), "upstream: \(code) \(reason)\n")
            log.done(status: UInt(code), bytes: 0, how: "upstream status")
            return true
        case .body(let info):
            return try await stream(
                fetch, info, target: target, range: range, connection, log: log, how: isNew ? "miss" : "coalesced")
        }
    }

    /// Sends the object from the fetch's file as it grows.
    private func stream(
        _ fetch: Fetch, _ info: ObjectInfo, target: RequestTarget, range: ByteRange?, _ connection: ClientConnection,
        log: RequestLog, how: String
    ) async throws -> Bool {
        guard let descriptor = fetch.attachReader() else {
            // The fetch has ended: stored (look again), rejected, or passing through.
            switch await fetch.progress(after: 0) {
            case .failed(let reason):
                try await connection.respond(.badGateway, "fetch of \(target.upstreamPath) failed: \(reason)\n")
                log.done(status: 502, bytes: 0, how: "failed")
                return true
            case .passThrough:
                try await passThrough(target, query: nil, range: range, connection, log: log)
                return true
            case .available, .done:
                return false
            }
        }
        let file = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: descriptor.rawValue)
        defer { try? file.close() }
        var status = HTTPResponseStatus.ok
        var bounds: Range<Int64>?
        if let range, let total = info.total {
            guard let satisfiable = range.bounds(size: total) else {
                try await connection.respond(.rangeNotSatisfiable, "range not satisfiable\n")
                log.done(status: 416, bytes: 0, how: how)
                return true
            }
            status = .partialContent
            bounds = satisfiable
        }
        var headers = ResponseFields.object(size: info.total, mtime: info.mtime, range: bounds, total: info.total)
        headers.add(name: "date", value: HTTPDate.format(secondsSinceEpoch: time(nil)))
        try await connection.head(status, headers)
        var offset = bounds?.lowerBound ?? 0
        let end = bounds?.upperBound ?? info.total
        var sent: Int64 = 0
        reading: while !connection.isHead, end.map({ offset < $0 }) ?? true {
            switch await fetch.progress(after: offset) {
            case .available(let upTo):
                let stop = end.map { min($0, upTo) } ?? upTo
                try await connection.body(FileRegion(fileHandle: file, readerIndex: Int(offset), endIndex: Int(stop)))
                sent += stop - offset
                offset = stop
            case .done:
                break reading
            case .failed(let reason):
                connection.cut()
                log.done(status: status.code, bytes: sent, how: "\(how), cut: \(reason)")
                return true
            case .passThrough:
                // Everything before `offset` has been sent; the upstream gives the rest.
                sent += try await continueFromUpstream(target, from: offset, to: end, connection)
                break reading
            }
        }
        try await connection.end()
        log.done(status: status.code, bytes: sent, how: how)
        return true
    }

    /// A complete stored object, from a task (the hit path on the event loop does the same
    /// without one).
    func sendComplete(
        _ descriptor: SystemPackage.FileDescriptor, _ info: stat, target: RequestTarget, range: ByteRange?,
        _ connection: ClientConnection
    ) async throws -> (UInt, Int64) {
        let file = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: descriptor.rawValue)
        defer { try? file.close() }
        var (status, headers, bytes) = ResponseFields.complete(
            size: Int64(info.st_size), mtime: Int64(info.st_mtim.tv_sec), range: range)
        headers.add(name: "date", value: HTTPDate.format(secondsSinceEpoch: time(nil)))
        store.recency.touch(target.key)
        try await connection.head(status, headers)
        if !connection.isHead, !bytes.isEmpty {
            metrics.bytesFromCache.increment(by: Int64(bytes.count))
            try await connection.body(
                FileRegion(fileHandle: file, readerIndex: Int(bytes.lowerBound), endIndex: Int(bytes.upperBound)))
        }
        try await connection.end()
        return (status.code, connection.isHead ? 0 : Int64(bytes.count))
    }

    /// The whole response straight from an upstream, nothing stored (a query, no room, a
    /// name the cache cannot hold). Fails over until the first upstream answers; after
    /// that, a cut upstream cuts the client.
    func passThrough(
        _ target: RequestTarget, query: String?, range: ByteRange?, _ connection: ClientConnection, log: RequestLog
    ) async throws {
        metrics.passedThrough.increment()
        var headers: [(String, String)] = [("Accept-Encoding", "identity")]
        if let range { headers.append(("Range", range.header)) }
        let path = target.upstreamPath + (query.map { "?" + $0 } ?? "")
        var lastError: (any Error)?
        for origin in target.origins {
            let answered = Shared<UInt?>(nil)
            let sent = Shared<Int64>(0)
            do {
                try await upstream.get(
                    origin + path, method: connection.isHead ? .HEAD : .GET, headers: headers,
                    head: { response in
                        guard response.status.code < 500 else {
                            throw Upstream.BadStatus(status: Int(response.status.code))
                        }
                        var fields = HTTPHeaders()
                        for name in ["content-length", "content-range", "last-modified", "etag", "content-type"] {
                            if let value = response.headers.first(name: name), ResponseFields.isCopyable(value) {
                                fields.add(name: name, value: value)
                            }
                        }
                        fields.add(name: "date", value: HTTPDate.format(secondsSinceEpoch: time(nil)))
                        answered.value = response.status.code
                        try await connection.head(HTTPResponseStatus(statusCode: Int(response.status.code)), fields)
                        return !connection.isHead
                    },
                    chunk: { buffer in
                        try await connection.body(buffer)
                        sent.update { $0 += Int64(buffer.readableBytes) }
                    })
                try await connection.end()
                log.done(status: answered.value ?? 0, bytes: sent.value, how: "pass")
                return
            } catch {
                if answered.value != nil { throw error }
                metrics.upstreamErrors.increment()
                lastError = error
            }
        }
        try await connection.respond(
            .badGateway, "no upstream answered for \(target.upstreamPath): \(lastError.map { "\($0)" } ?? "")\n")
        log.done(status: 502, bytes: 0, how: "unreachable")
    }

    /// The rest of a body whose first part came from the cache's partial file, when
    /// storing stopped (disk full): `Range` from the first upstream that continues it.
    private func continueFromUpstream(
        _ target: RequestTarget, from offset: Int64, to end: Int64?, _ connection: ClientConnection
    ) async throws -> Int64 {
        metrics.passedThrough.increment()
        let last = end.map { "\($0 - 1)" } ?? ""
        var lastError: any Error = Upstream.BadStatus(status: 0)
        for origin in target.origins {
            let sent = Shared<Int64>(0)
            let skip = Shared<Int64>(0)
            do {
                try await upstream.get(
                    origin + target.upstreamPath,
                    headers: [("Accept-Encoding", "identity"), ("Range", "bytes=\(offset)-\(last)")],
                    head: { response in
                        switch response.status.code {
                        case 206 where Upstream.contentRange(response)?.start == offset: break
                        case 200: skip.value = offset
                        default: throw Upstream.BadStatus(status: Int(response.status.code))
                        }
                        return true
                    },
                    chunk: { buffer in
                        var buffer = buffer
                        let drop = skip.update { skip in
                            let drop = min(skip, Int64(buffer.readableBytes))
                            skip -= drop
                            return drop
                        }
                        buffer.moveReaderIndex(forwardBy: Int(drop))
                        if let end {
                            let room = end - offset - sent.value
                            if Int64(buffer.readableBytes) > room {
                                buffer = buffer.getSlice(at: buffer.readerIndex, length: Int(max(0, room)))!
                            }
                        }
                        try await connection.body(buffer)
                        sent.update { $0 += Int64(buffer.readableBytes) }
                    })
                if let end, offset + sent.value != end { throw Truncated(got: offset + sent.value, total: end) }
                return sent.value
            } catch {
                if sent.value > 0 { throw error }
                metrics.upstreamErrors.increment()
                lastError = error
            }
        }
        throw lastError
    }
}

extension ByteRange {
    var header: String {
        switch self {
        case .from(let start): return "bytes=\(start)-"
        case .fromTo(let start, let end): return "bytes=\(start)-\(end)"
        case .suffix(let count): return "bytes=-\(count)"
        }
    }
}
