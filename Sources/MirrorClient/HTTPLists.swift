import AsyncHTTPClient
import ListProtocol
import CompressNIO
import Crypto
import FileList
import Foundation
import LinuxCalls
import ListTransport
import Logging
import NIOCore
import NIOHTTP1
import Publish
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Fetching the lists over HTTP(S): a conditional GET with the ETag saved by the last
/// successful run, and, from a filelistd, only the delta since that version.
///
/// filelistd's ETag is the list's SHA-256, so a delta applied to the installed list is
/// checked against it; any doubt about a delta (it does not decode, does not apply, or
/// gives other bytes) falls back to the whole list, never to a guess.
struct HTTPListFetcher {
    var base: String
    var timeout: Int
    /// Retries of a request that found no server or a 5xx, as for rsync (MAXRETRIES).
    var maxRetries = 0
    var firstBackoff: Double = 2
    var logger: Logger

    enum Outcome: Equatable {
        case unchanged, delta(edits: Int)
        /// `compressed`: the bytes that crossed the network when they came gzip-compressed.
        case whole(compressed: Int?)
    }

    /// Fetches `path` into `target`; the installed list (and its saved ETag) is the base.
    /// Returns the ETag that goes with the fetched bytes.
    func fetch(_ path: String, installed: String, savedETag: String?, into target: String) throws(SyncError) -> (
        etag: String?, outcome: Outcome
    ) {
        let hasInstalled = FileManager.default.fileExists(atPath: installed)
        let etag = hasInstalled ? savedETag : nil
        if let etag, let digest = ListURL.digest(ofETag: etag) {
            let url = ListURL.changes(base: base, path: path, since: digest)
            let response = try get(url)
            switch response.status {
            case .notModified:
                try link(installed, target)
                return (etag, .unchanged)
            case .ok:
                do {
                    let rebuilt = try ListDeltaAnswer.rebuilt(
                        response.body ?? ByteBuffer(), url: url, since: digest, installed: try ListFile.read(installed))
                    try write(rebuilt.list, to: target)
                    try setAttributes(from: response.headers, on: target)
                    return ("\"\(rebuilt.digest)\"", .delta(edits: rebuilt.edits))
                } catch {
                    logger.warning("the delta for \(path) from \(base) is not usable (\(error)); fetching the whole list", metadata: ["item": "o"])
                }
            default:
                break  // 410 Gone: too old for the server's journal; 404: not a filelistd.
            }
        }
        let url = ListURL.list(base: base, path: path)
        let response = try get(url, ifNoneMatch: etag, acceptGzip: true)
        switch response.status {
        case .notModified where etag != nil:
            try link(installed, target)
            return (etag, .unchanged)
        case .ok:
            let (body, bodyETag, compressed): (ByteBuffer, String?, Int?)
            do {
                (body, bodyETag, compressed) = try ListBody.decoded(response, url: url)
            } catch {
                throw SyncError(error.description)
            }
            try write(body, to: target)
            try setAttributes(from: response.headers, on: target)
            return (bodyETag, .whole(compressed: compressed))
        default:
            throw SyncError("cannot fetch \(url): HTTP \(response.status.code) \(response.status.reasonPhrase)")
        }
    }

    /// One request, retried with a doubling pause while the server is unreachable or
    /// answers 5xx (an upstream restarting); other answers are the caller's to judge.
    private func get(_ url: String, ifNoneMatch etag: String? = nil, acceptGzip: Bool = false) throws(SyncError)
        -> HTTPClient.Response
    {
        var backoff = firstBackoff
        for attempt in 1...(maxRetries + 1) {
            let response: HTTPClient.Response
            do {
                response = try once(url, ifNoneMatch: etag, acceptGzip: acceptGzip)
            } catch {
                guard attempt <= maxRetries else { throw error }
                logger.warning("\(error); retry \(attempt) of \(maxRetries) in \(Int(backoff)) s", metadata: ["item": "e"])
                Thread.sleep(forTimeInterval: backoff)
                backoff *= 2
                continue
            }
            guard response.status.code >= 500, attempt <= maxRetries else { return response }
            logger.warning(
                "\(url) answered HTTP \(response.status.code); retry \(attempt) of \(maxRetries) in \(Int(backoff)) s",
                metadata: ["item": "e"])
            Thread.sleep(forTimeInterval: backoff)
            backoff *= 2
        }
        throw SyncError("cannot fetch \(url)")  // not reached: the last attempt returns or throws
    }

    private func once(_ url: String, ifNoneMatch etag: String?, acceptGzip: Bool) throws(SyncError)
        -> HTTPClient.Response
    {
        do {
            var request = try HTTPClient.Request(url: url, method: .GET)
            if let etag { request.headers.add(name: "If-None-Match", value: etag) }
            if acceptGzip { request.headers.add(name: "Accept-Encoding", value: ListCoding.gzip) }
            // RSYNCTIMEOUT=0 means no timeout, as for rsync.
            let deadline: NIODeadline? = timeout > 0 ? .now() + .seconds(Int64(timeout)) : nil
            return try ListHTTPClient.shared.execute(request: request, deadline: deadline).wait()
        } catch {
            throw SyncError("cannot fetch \(url): \(error)")
        }
    }

    /// Stages the installed list: a hard link, or a copy where a module directory is a
    /// mount of its own (EXDEV) or links are refused.
    private func link(_ installed: String, _ target: String) throws(SyncError) {
        try makeParent(of: target)
        guard Glibc.link(installed, target) != 0 else { return }
        try write(try ListFile.read(installed), to: target)
    }

    private func write(_ bytes: [UInt8], to target: String) throws(SyncError) {
        try write(ByteBuffer(bytes: bytes), to: target)
    }

    /// Writes straight from the response's buffer: a 100 MB list is not copied again.
    private func write(_ buffer: ByteBuffer, to target: String) throws(SyncError) {
        try makeParent(of: target)
        do throws(SystemCallError) {
            let fd = try Linux.openat(nil, target, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o644)
            defer { try? fd.close() }
            let written = buffer.withUnsafeReadableBytes { bytes in
                Result { () throws(SystemCallError) in try Linux.writeAll(fd, bytes, displayPath: target) }
            }
            try written.get()
        } catch {
            throw SyncError("cannot write '\(target)': \(error.errno)")
        }
    }

    /// Gives a staged list upstream's mode and time, as rsync would: filelistd says both
    /// to the nanosecond; any other web server's `Last-Modified` gives the whole second.
    private func setAttributes(from headers: HTTPHeaders, on target: String) throws(SyncError) {
        var times: [timespec]
        if let attributes = ListFileAttributes(
            mode: headers.first(name: ListFileAttributes.modeHeader),
            time: headers.first(name: ListFileAttributes.timeHeader))
        {
            guard chmod(target, mode_t(attributes.mode)) == 0 else {
                throw SyncError("cannot set the mode of '\(target)': \(String(cString: strerror(errno)))")
            }
            let time = timespec(tv_sec: attributes.seconds, tv_nsec: attributes.nanoseconds)
            times = [time, time]
        } else if let date = headers.first(name: "Last-Modified"), let seconds = HTTPDate.seconds(from: date) {
            times = [timespec(tv_sec: seconds, tv_nsec: 0), timespec(tv_sec: seconds, tv_nsec: 0)]
        } else {
            return
        }
        guard utimensat(AT_FDCWD, target, &times, 0) == 0 else {
            throw SyncError("cannot set the time of '\(target)': \(String(cString: strerror(errno)))")
        }
    }

    private func makeParent(of path: String) throws(SyncError) {
        let parent = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        } catch {
            throw SyncError("cannot create '\(parent)': \(error.localizedDescription)")
        }
    }
}

/// The ETags of the installed lists, kept beside the time file, each with the identity
/// (inode, size, mtime) of the list it came with: an ETag is used only while that very
/// file is installed, so a list replaced by anything else (a run over rsync, another
/// client, a failure between installing and saving) is fetched whole, never taken as
/// current on a 304.
enum SavedETags {
    static func path(timeFile: String) -> String { timeFile + ".etags" }

    /// The identity of the file at `path`, or nil when it does not exist.
    static func identity(of path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return "\(info.st_ino):\(info.st_size):\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
    }

    /// The saved ETags whose list is still the installed one, by list path.
    static func load(timeFile: String, destination: String) -> [String: String] {
        guard let text = try? String(contentsOfFile: path(timeFile: timeFile), encoding: .utf8) else { return [:] }
        var etags: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: "\t", maxSplits: 2)
            guard fields.count == 3 else { continue }
            let list = String(fields[2])
            if identity(of: "\(destination)/\(list)") == String(fields[1]) { etags[list] = String(fields[0]) }
        }
        return etags
    }

    static func save(_ etags: [String: String], timeFile: String, destination: String) throws {
        // An ETag is opaque: one that cannot be written on a line is not kept (the next
        // run then fetches that list whole).
        let text = etags.filter { !$0.value.contains(where: { $0 == "\t" || $0.isNewline }) }
            .sorted { $0.key < $1.key }
            .compactMap { list, etag in identity(of: "\(destination)/\(list)").map { "\(etag)\t\($0)\t\(list)\n" } }
            .joined()
        try Data(text.utf8).write(to: URL(fileURLWithPath: path(timeFile: timeFile)), options: .atomic)
    }
}
