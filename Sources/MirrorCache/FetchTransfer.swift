import AsyncHTTPClient
import ListProtocol
import Foundation
import LinuxCalls
import Logging
import NIOCore
import NIOPosix
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Runs one `Fetch` to its end: asks the upstreams in order, writes the body to the
/// partial file while hashing it, resumes a cut or stalled transfer with `Range` from
/// where it stopped (the same upstream or the next), and commits the file only when its
/// length and the list's size and checksum agree.
struct FetchTransfer: Sendable {
    let fetch: Fetch
    let store: CacheStore
    let upstream: Upstream
    let metrics: CacheMetrics
    let logger: Logger

    /// An upstream's answer that cannot continue this object: try another.
    struct Mismatch: Error, CustomStringConvertible {
        var description: String
    }

    /// What one attempt leaves for the next.
    private final class Progress: Sendable {
        struct State {
            var info: ObjectInfo?
            /// Bytes of a `200` answer to a resume to drop (already written).
            var skip: Int64 = 0
            var storing = true
            var storable = true
        }
        let state = Mutex(State())
    }

    func run() async {
        let (descriptor, partial): (SystemPackage.FileDescriptor, String)
        do {
            (descriptor, partial) = try store.makePartial()
        } catch {
            logger.error("cannot create a partial file", metadata: ["error": "\(error)"])
            fetch.setHead(.unreachable("cache directory: \(error)"))
            fetch.stopStoring()
            return
        }
        fetch.setDescriptor(descriptor)
        let fetch = self.fetch
        let writer = PartialFileWriter(descriptor: descriptor, hashing: fetch.listed?.sha256 != nil) {
            fetch.appended($0)
        }
        let progress = Progress()
        let origins = fetch.target.origins
        var index = 0
        var fruitless = 0
        var outcome: Result<Void, any Error> = .failure(Mismatch(description: "no upstream"))
        while true {
            let origin = origins[index % origins.count]
            let before = fetch.written
            do {
                let finished = try await attempt(origin: origin, writer: writer, progress: progress)
                outcome = .success(())
                if !finished { break }
                try verify(writer, progress)
                break
            } catch let error as Rejected {
                logger.error(
                    "fetched object rejected", metadata: ["path": "\(fetch.target.key)", "error": "\(error)"])
                outcome = .failure(error)
                break
            } catch {
                // What was handed over is in the file before the next attempt resumes after it.
                if let failure = await writer.drain() { stopStoring(progress, "\(failure)") }
                // Storing stopped (disk full): the readers carry on from the upstream.
                if !progress.state.withLock({ $0.storing }) {
                    outcome = .success(())
                    break
                }
                metrics.upstreamErrors.increment()
                outcome = .failure(error)
                logger.warning(
                    "upstream attempt failed",
                    metadata: [
                        "upstream": "\(origin)", "path": "\(fetch.target.upstreamPath)", "offset": "\(fetch.written)",
                        "error": "\(error)",
                    ])
                fruitless = fetch.written > before ? 0 : fruitless + 1
                // Every upstream had its chance without moving the transfer on.
                if fruitless >= max(2, origins.count) { break }
                index += 1
                try? await Task.sleep(for: .milliseconds(100 * fruitless))
            }
        }
        let storing = progress.state.withLock { $0.storing }
        switch outcome {
        case .success where storing:
            await commit(descriptor: descriptor, partial: partial, progress: progress)
        case .success:
            break
        case .failure(let error):
            if fetch.knownHead == nil {
                fetch.setHead(.unreachable("\(error)"))
            }
            fetch.fail("\(error)")
        }
        _ = await writer.drain()  // no write may outlive the descriptor
        _ = fetch.closeDescriptor()
        try? descriptor.close()
        // Committed (renamed away) or given up: either way the name must not stay behind.
        try? Linux.removeFile(partial)
    }

    /// One request to one upstream; true when the body ended complete, false when there
    /// is nothing to store (not modified, an error status, storing stopped).
    private func attempt(origin: String, writer: PartialFileWriter, progress: Progress) async throws -> Bool {
        let offset = writer.handed
        var headers: [(String, String)] = [("Accept-Encoding", "identity")]
        if offset > 0 {
            headers.append(("Range", "bytes=\(offset)-"))
        } else if let validators = fetch.conditional {
            if let etag = validators.etag { headers.append(("If-None-Match", etag)) }
            if let lastModified = validators.lastModified { headers.append(("If-Modified-Since", lastModified)) }
        }
        let carryOn = Shared(true)
        let url = origin + fetch.target.upstreamPath
        try await upstream.get(
            url, headers: headers,
            head: { response in
                let go = try self.accept(response, offset: offset, progress: progress)
                carryOn.value = go
                return go
            },
            chunk: { buffer in
                guard try await self.write(buffer, writer: writer, progress: progress) else {
                    throw CancellationError()
                }
            })
        guard carryOn.value else { return false }
        if let failure = await writer.drain() {
            stopStoring(progress, "\(failure)")
            return false
        }
        let total = progress.state.withLock { $0.info?.total }
        if !progress.state.withLock({ $0.storing }) { return false }
        if let total, fetch.written != total {
            throw Truncated(got: fetch.written, total: total)
        }
        return true
    }

    /// Reads the answer's head: the first one decides what the clients are told; a resume
    /// must continue the same object (same length), else it is an error for this upstream.
    private func accept(_ response: HTTPClientResponse, offset: Int64, progress: Progress) throws -> Bool {
        let status = Int(response.status.code)
        if offset == 0 && progress.state.withLock({ $0.info == nil }) {
            switch status {
            case 200:
                break
            case 304 where fetch.conditional != nil:
                fetch.setHead(.notModified)
                do {
                    try store.markValidated(fetch.target.key)
                } catch {
                    // The copy stays good; it is only asked about again sooner.
                    logger.warning("cannot record a revalidation", metadata: ["error": "\(error)"])
                }
                progress.state.withLock { $0.storing = false }
                return false
            case 400..<500, 300..<400:
                // Gone upstream: a copy kept from before must not outlive it.
                if status == 404 || status == 410 { store.remove(fetch.target.key) }
                fetch.setHead(.status(status, response.status.reasonPhrase))
                progress.state.withLock { $0.storing = false }
                return false
            default:
                throw Upstream.BadStatus(status: status)
            }
            let total = Upstream.contentLength(response)
            let lastModified = Upstream.header(response, "last-modified")
            let info = ObjectInfo(
                total: total, lastModified: lastModified, etag: Upstream.header(response, "etag"),
                mtime: fetch.listed?.mtime ?? lastModified.flatMap(HTTPDate.seconds(from:)).map(Int64.init))
            progress.state.withLock { $0.info = info }
            if let listed = fetch.listed, let total, total != listed.size {
                // The list and the upstream disagree (one of them lags): the clients get
                // the upstream's bytes, the cache keeps nothing it cannot vouch for.
                logger.notice(
                    "upstream size differs from the list: not stored",
                    metadata: ["path": "\(fetch.target.key)", "listed": "\(listed.size)", "upstream": "\(total)"])
                progress.state.withLock { $0.storable = false }
            }
            fetch.setHead(.body(info))
            var evicted = 0
            if !store.makeRoom(for: total ?? 0, evicted: { evicted = $0 }) {
                logger.notice("no room in the cache: passing through", metadata: ["path": "\(fetch.target.key)"])
                progress.state.withLock { $0.storing = false }
                fetch.stopStoring()
                return false
            }
            metrics.evictions.increment(by: Int64(evicted))
            return true
        }
        let expected = progress.state.withLock { $0.info?.total }
        switch status {
        case 206:
            guard let range = Upstream.contentRange(response), range.start == offset, range.total == expected else {
                throw Mismatch(description: "resume answered a different range or object")
            }
        case 200:
            guard Upstream.contentLength(response) == expected else {
                throw Mismatch(description: "resume answered a different object")
            }
            progress.state.withLock { $0.skip = offset }
        default:
            throw Upstream.BadStatus(status: status)
        }
        return true
    }

    /// Hands a chunk to the writer; false once storing stopped (the disk is full): the
    /// readers then take the rest from the upstream themselves.
    private func write(_ buffer: ByteBuffer, writer: PartialFileWriter, progress: Progress) async throws -> Bool {
        var buffer = buffer
        let skip = progress.state.withLock { state -> Int in
            let drop = min(state.skip, Int64(buffer.readableBytes))
            state.skip -= drop
            return Int(drop)
        }
        buffer.moveReaderIndex(forwardBy: skip)
        guard buffer.readableBytes > 0 else { return true }
        if let total = progress.state.withLock({ $0.info?.total }), writer.handed + Int64(buffer.readableBytes) > total
        {
            throw Mismatch(description: "upstream sent more than its Content-Length")
        }
        if let failure = await writer.append(buffer) {
            stopStoring(progress, "\(failure)")
            return false
        }
        return true
    }

    /// The disk is full (or the file cannot grow): the clients take the rest from the
    /// upstream, and nothing is stored.
    private func stopStoring(_ progress: Progress, _ reason: String) {
        let wasStoring = progress.state.withLock { state in
            defer { state.storing = false }
            return state.storing
        }
        guard wasStoring else { return }
        logger.warning(
            "cannot write to the cache: passing through",
            metadata: ["path": "\(fetch.target.key)", "error": "\(reason)"])
        fetch.stopStoring()
    }

    private func verify(_ writer: PartialFileWriter, _ progress: Progress) throws {
        guard let listed = fetch.listed else { return }
        if fetch.written != listed.size, progress.state.withLock({ $0.storable }) {
            throw Rejected(description: "size \(fetch.written) differs from the list's \(listed.size)")
        }
        if let expected = listed.sha256, let hex = writer.digest() {
            guard hex == expected.lowercased() else {
                throw Rejected(description: "SHA-256 \(hex) differs from the list's \(expected)")
            }
        }
    }

    /// Releases the last byte to the readers (the body is verified), then makes the copy
    /// durable and gives it its name. The clients do not wait for the fsync: a 1 GB object
    /// takes seconds to reach the disk, and their bytes are right already. Until the rename
    /// the fetch stays joinable, so a request in between reads the partial file.
    private func commit(descriptor: SystemPackage.FileDescriptor, partial: String, progress: Progress) async {
        fetch.verify()
        let (info, storable) = progress.state.withLock { ($0.info, $0.storable) }
        guard let info, storable, !fetch.isSuperseded else { return }
        let (store, key, size, fetch) = (self.store, self.fetch.target.key, self.fetch.written, self.fetch)
        let validators = CacheStore.Validators(
            etag: info.etag, lastModified: info.lastModified, sha256: fetch.listed?.sha256?.lowercased())
        do {
            // fsync can take a while on a busy disk: a thread of NIO's pool waits for it,
            // not one of the few that run every client's task.
            try await NIOThreadPool.singleton.runIfActive {
                try store.commit(
                    partial: partial, descriptor: descriptor, key: key, mtime: info.mtime, size: size,
                    validators: validators, stillWanted: { !fetch.isSuperseded })
            }
        } catch {
            // Names a directory cannot hold (a file where a directory should be...): the
            // clients still get their bytes.
            logger.warning("cannot store", metadata: ["path": "\(key)", "error": "\(error)"])
        }
    }
}

/// The upstream's body ended before its Content-Length: resumable, unlike a mismatch.
struct Truncated: Error, CustomStringConvertible {
    var got: Int64
    var total: Int64
    var description: String { "body cut at \(got) of \(total) bytes" }
}

/// A complete body that disagrees with the list: not retried, not stored, and the
/// clients' connections are cut before their last byte.
struct Rejected: Error, CustomStringConvertible {
    var description: String
}
