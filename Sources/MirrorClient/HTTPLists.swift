import AsyncHTTPClient
import Crypto
import FileList
import Foundation
import NIOCore
import NIOHTTP1

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
    var log: @Sendable (String) -> Void

    enum Outcome: Equatable {
        case unchanged, delta(edits: Int), whole
    }

    /// Fetches `path` into `target`; the installed list (and its saved ETag) is the base.
    /// Returns the ETag that goes with the fetched bytes.
    func fetch(_ path: String, installed: String, savedETag: String?, into target: String) throws(SyncError) -> (
        etag: String?, outcome: Outcome
    ) {
        let hasInstalled = FileManager.default.fileExists(atPath: installed)
        let etag = hasInstalled ? savedETag : nil
        if let etag, let digest = Self.digest(ofETag: etag) {
            let url = "\(base)/changes?list=\(Self.queryEscaped(path))&since=\(digest)"
            let response = try get(url)
            switch response.status {
            case .notModified:
                try link(installed, target)
                return (etag, .unchanged)
            case .ok:
                do {
                    let delta = try FileListDelta(decoding: Array(buffer: response.body ?? ByteBuffer()), source: url)
                    guard delta.base == digest else { throw SyncError("it starts from another version") }
                    let bytes = try delta.applied(to: try ListFile.read(installed))
                    guard Self.sha256(bytes) == delta.result else {
                        throw SyncError("the result's SHA-256 is not the one it names")
                    }
                    try write(bytes, to: target)
                    return ("\"\(delta.result)\"", .delta(edits: delta.editCount))
                } catch {
                    log("the delta for \(path) from \(base) is not usable (\(error)); fetching the whole list")
                }
            default:
                break  // 410 Gone: too old for the server's journal; 404: not a filelistd.
            }
        }
        let url = "\(base)/\(path.split(separator: "/").map { Self.pathEscaped(String($0)) }.joined(separator: "/"))"
        let response = try get(url, ifNoneMatch: etag)
        switch response.status {
        case .notModified where etag != nil:
            try link(installed, target)
            return (etag, .unchanged)
        case .ok:
            var body = response.body ?? ByteBuffer()
            try write(body.readBytes(length: body.readableBytes) ?? [], to: target)
            return (response.headers.first(name: "ETag"), .whole)
        default:
            throw SyncError("cannot fetch \(url): HTTP \(response.status.code) \(response.status.reasonPhrase)")
        }
    }

    private func get(_ url: String, ifNoneMatch etag: String? = nil) throws(SyncError) -> HTTPClient.Response {
        do {
            var request = try HTTPClient.Request(url: url, method: .GET)
            if let etag { request.headers.add(name: "If-None-Match", value: etag) }
            return try HTTPClient.shared.execute(request: request, deadline: .now() + .seconds(Int64(timeout))).wait()
        } catch {
            throw SyncError("cannot fetch \(url): \(error)")
        }
    }

    private func link(_ installed: String, _ target: String) throws(SyncError) {
        try makeParent(of: target)
        guard Glibc.link(installed, target) == 0 else {
            throw SyncError("cannot stage '\(installed)': \(String(cString: strerror(errno)))")
        }
    }

    private func write(_ bytes: [UInt8], to target: String) throws(SyncError) {
        try makeParent(of: target)
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: target))
        } catch {
            throw SyncError("cannot write '\(target)': \(error.localizedDescription)")
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

    /// A filelistd ETag is `"<64 hex digits>"`; other servers' ETags have no delta.
    static func digest(ofETag etag: String) -> String? {
        let bare = etag.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        return bare.count == 64 && bare.allSatisfy(\.isHexDigit) ? bare.lowercased() : nil
    }

    static func sha256(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }

    static func queryEscaped(_ text: String) -> String {
        text.addingPercentEncoding(
            withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+#")))
            ?? text
    }

    static func pathEscaped(_ component: String) -> String {
        component.addingPercentEncoding(
            withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/")))
            ?? component
    }
}

/// The ETags of the installed lists, kept beside the time file: `etag<TAB>path` lines.
enum SavedETags {
    static func path(timeFile: String) -> String { timeFile + ".etags" }

    static func load(timeFile: String) -> [String: String] {
        guard let text = try? String(contentsOfFile: path(timeFile: timeFile), encoding: .utf8) else { return [:] }
        var etags: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: "\t", maxSplits: 1)
            if fields.count == 2 { etags[String(fields[1])] = String(fields[0]) }
        }
        return etags
    }

    static func save(_ etags: [String: String], timeFile: String) throws {
        // An ETag is opaque: one that cannot be written on a line is not kept (the next
        // run then fetches that list whole).
        let text = etags.filter { !$0.value.contains(where: { $0 == "\t" || $0.isNewline }) }
            .sorted { $0.key < $1.key }.map { "\($0.value)\t\($0.key)\n" }.joined()
        try Data(text.utf8).write(to: URL(fileURLWithPath: path(timeFile: timeFile)), options: .atomic)
    }
}
