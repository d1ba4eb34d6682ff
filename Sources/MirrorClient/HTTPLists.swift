import Foundation
import LinuxCalls
import ListProtocol
import ListTransport
import Logging
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// quick-mirror's side of fetching the lists over HTTP(S) (`ListFetch` does the asking):
/// the installed list and the ETag saved with it are the version held, and what comes is
/// staged as a file with upstream's mode and time, as rsync would leave it.
struct HTTPListFetcher {
    var base: String
    /// RSYNCTIMEOUT; 0 means no timeout, as for rsync.
    var timeout: Int
    /// Retries of a request that found no server or a 5xx, as for rsync (MAXRETRIES).
    var maxRetries = 0
    var backoff = Backoff(first: .seconds(2))
    var logger: Logger

    enum Outcome: Equatable {
        case unchanged, delta(edits: Int)
        /// `compressed`: the bytes that crossed the network when they came gzip-compressed.
        case whole(compressed: Int?)
    }

    /// What came for one list.
    struct Arrival {
        /// The ETag that goes with the staged bytes.
        var etag: String?
        var outcome: Outcome
        /// The list's segments, when its bytes were checked against a list digest.
        var segments: [ListSegment]?
        /// The delta, when it was applied to the installed list where it lies (`record`).
        var applied: AppliedDelta?
    }

    /// Fetches `path` into `target`; the installed list (and its saved ETag) is the base.
    /// With the installed list's record, a delta is applied where the list lies and
    /// checked from its segments (`ListDeltaOnDisk`), instead of reading the list.
    func fetch(
        _ path: String, installed: String, savedETag: String?, record: InstalledListRecord? = nil,
        into target: String
    ) throws(SyncError) -> Arrival {
        var asking = ListFetch(base: base, timeout: timeout > 0 ? .seconds(timeout) : nil, logger: logger)
        asking.retries = maxRetries
        asking.backoff = backoff
        let fetch = asking
        let usable = record.flatMap { record in
            savedETag.flatMap { EntityTag($0)?.listDigest } == record.digest ? record : nil
        }
        let staging = target
        let held = Linux.statPath(installed).map { _ in
            ListFetch.Held(
                etag: savedETag, lastModified: nil, bytes: { try ListFile.read(installed) },
                apply: usable.map { record in
                    { @Sendable delta in
                        try Self.makeParent(staging)
                        return try ListDeltaOnDisk.apply(delta, installed: installed, record: record, into: staging)
                    }
                })
        }
        let answer: ListFetch.Answer
        do {
            answer = try Self.waiting { () async throws(ListTransportError) in try await fetch.fetch(path, held: held) }
        } catch {
            throw SyncError(error.description)
        }
        guard case .fetched(let list) = answer else {
            try link(installed, target)
            return Arrival(etag: savedETag, outcome: .unchanged)
        }
        if let refused = list.refusedDelta {
            logger.warning(
                "the delta for \(path) from \(base) is not usable (\(refused)); fetched the whole list",
                metadata: ["item": "o"])
        }
        if case .applied = list.content {} else { try write(list.content, to: target) }
        try setAttributes(of: list, on: target)
        let outcome: Outcome
        switch list.transfer {
        case .delta(let edits): outcome = .delta(edits: edits)
        case .whole(let compressed): outcome = .whole(compressed: compressed)
        }
        return Arrival(etag: list.etag, outcome: outcome, segments: list.segments, applied: list.applied)
    }

    private static func makeParent(_ path: String) throws {
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    }

    /// quick-mirror's run is synchronous (rsync processes, a lock, the follow loop on the
    /// main thread) and the fetch is a task: this thread waits for it. Never called on a
    /// Swift concurrency thread, where the wait would hold a thread the fetch may need.
    private static func waiting<T: Sendable>(
        _ operation: @escaping @Sendable () async throws(ListTransportError) -> T
    ) throws(ListTransportError) -> T {
        let promise = ListHTTPClient.shared.eventLoopGroup.next().makePromise(of: T.self)
        promise.completeWithTask { try await operation() }
        do {
            return try promise.futureResult.wait()
        } catch let error as ListTransportError {
            throw error
        } catch {
            throw ListTransportError("\(error)")
        }
    }

    /// Stages the installed list: a hard link, or a copy where a module directory is a
    /// mount of its own (EXDEV) or links are refused.
    private func link(_ installed: String, _ target: String) throws(SyncError) {
        try makeParent(of: target)
        do {
            try Linux.link(installed, as: target)
        } catch {
            try write(.rebuilt(try ListFile.read(installed)), to: target)
        }
    }

    /// Writes the bytes in the form they came: a 100 MB list is not copied again.
    private func write(_ content: ListContent, to target: String) throws(SyncError) {
        try makeParent(of: target)
        do throws(SystemCallError) {
            let fd = try Linux.openat(nil, target, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o644)
            defer { try? fd.close() }
            let written = content.withUnsafeBytes { bytes in
                Result { () throws(SystemCallError) in try Linux.writeAll(fd, bytes, displayPath: target) }
            }
            try written.get()
        } catch {
            throw SyncError("cannot write '\(target)': \(error.errno)")
        }
    }

    /// Gives a staged list upstream's mode and time, as rsync would: filelistd says both
    /// to the nanosecond; any other web server's `Last-Modified` gives the whole second.
    private func setAttributes(of list: FetchedList, on target: String) throws(SyncError) {
        do throws(SystemCallError) {
            if let attributes = list.attributes { try Linux.changeMode(target, to: mode_t(attributes.mode)) }
            guard let (seconds, nanoseconds) = list.time else { return }
            let time = timespec(tv_sec: seconds, tv_nsec: nanoseconds)
            try Linux.setTimes(target, access: time, modification: time)
        } catch {
            throw SyncError("cannot set the \(error.call == "chmod" ? "mode" : "time") of '\(target)': \(error.errno)")
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
    static func identity(of path: String) -> String? { InstalledListRecord.identity(of: path) }

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
