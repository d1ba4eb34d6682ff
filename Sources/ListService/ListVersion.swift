import ListProtocol
import HTTPTypes
import Hummingbird
import LinuxCalls
import Publish
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// One version of a list as served: the publisher's version (`PublishedList`, held open:
/// a response that started on it is served whole from it even after a newer list is
/// renamed over the path) and everything a response about it carries, made once: a poll
/// is answered with fields built when the version was installed, never with per-request
/// formatting.
public final class ListVersion: Sendable {
    /// The path below the served root, as clients ask for it.
    public let path: String
    public let list: PublishedList
    /// The list digest: the same bytes get the same ETag on every server and across restarts.
    public var digest: String { list.digest }
    public var size: Int { list.size }
    /// The ETag header value.
    public let etag: String
    /// The ETag of the gzip representation (it exists once `compressed` is set).
    let gzipETag: String
    /// The fields of a `200`.
    let headers: HTTPFields
    /// The fields of a `304`: the same validators and caching fields (RFC 9110 15.4.5).
    let notModifiedHeaders: HTTPFields
    /// The file's mode and time, sent so that a mirror installs the list as rsync would.
    let attributes: ListFileAttributes
    var descriptor: FileDescriptor { list.descriptor }
    private let compressedForm = Mutex<CompressedList?>(nil)
    /// The server's generation that installed this version, and when (RFC 3339): what
    /// `/status` and the status page show.
    public let generation: Int
    public let installed: String

    public init(path: String, list: PublishedList, generation: Int = 0, installed: String = "") {
        self.path = path
        self.list = list
        self.generation = generation
        self.installed = installed
        let etag = EntityTag.list(digest: list.digest).description
        self.etag = etag
        self.gzipETag = EntityTag.gzipList(digest: list.digest).description
        // Vary: a cache between here and a mirror must not hand gzip to a client that
        // did not ask for it, nor the reverse.
        var headers: HTTPFields = [
            .eTag: etag, .contentType: "text/plain; charset=utf-8", .cacheControl: "no-cache",
            .vary: "Accept-Encoding",
            .lastModified: HTTPDate.format(secondsSinceEpoch: list.modifiedSeconds),
        ]
        attributes = ListFileAttributes(
            mode: list.mode, seconds: list.modifiedSeconds, nanoseconds: list.modifiedNanoseconds)
        attributes.add(to: &headers)
        self.notModifiedHeaders = headers.notModified
        headers[.contentLength] = String(list.size)
        self.headers = headers
    }

    /// The gzip representation, once the catalog has made it.
    var compressed: CompressedList? { compressedForm.withLock { $0 } }

    /// Its entry lines, counted while its gzip form was made; nil before.
    var entries: Int? { compressed?.entries }

    func attach(_ compressed: CompressedList) { compressedForm.withLock { $0 = compressed } }

    /// What a GET or HEAD of this version sends, in the form the client gets: gzip when
    /// it accepts gzip and that form is made, else the plain list. One choice for the
    /// fast path and the router alike.
    struct Representation {
        let descriptor: FileDescriptor
        let size: Int
        let etag: String
        let headers: HTTPFields
        let notModifiedHeaders: HTTPFields
    }

    func representation(acceptingGzip: Bool) -> Representation {
        if acceptingGzip, let compressed {
            return Representation(
                descriptor: compressed.descriptor, size: compressed.size, etag: compressed.etag,
                headers: compressed.headers, notModifiedHeaders: compressed.notModifiedHeaders)
        }
        return Representation(
            descriptor: descriptor, size: size, etag: etag, headers: headers, notModifiedHeaders: notModifiedHeaders)
    }

    /// Whether `ifNoneMatch` names this version in either representation: a client that
    /// has the content is current, whichever coding brought it.
    func isMatched(by ifNoneMatch: String) -> Bool {
        EntityTag.ifNoneMatch(ifNoneMatch, matches: etag) || EntityTag.ifNoneMatch(ifNoneMatch, matches: gzipETag)
    }

    /// The whole content (to compute a delta from the previous version when the publisher
    /// gave none: a relay's lists).
    func bytes() throws(ListServiceError) -> [UInt8] {
        do {
            return try list.bytes()
        } catch {
            throw ListServiceError("cannot read list '\(path)': \(error.errno)")
        }
    }

    /// Up to `count` bytes from `offset`, read straight into the buffer that is sent;
    /// an empty buffer at the end.
    func chunk(at offset: Int, count: Int) throws(ListServiceError) -> ByteBuffer {
        try Self.chunk(of: descriptor, size: size, at: offset, count: count, path: path)
    }

    static func chunk(of descriptor: FileDescriptor, size: Int, at offset: Int, count: Int, path: String)
        throws(ListServiceError) -> ByteBuffer
    {
        let wanted = max(0, min(count, size - offset))
        var buffer = ByteBufferAllocator().buffer(capacity: wanted)
        var failure: SystemCallError?
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: wanted) { raw in
            do throws(SystemCallError) {
                return try Linux.preadFully(
                    descriptor, into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<wanted]), offset: Int64(offset),
                    displayPath: path)
            } catch {
                failure = error
                return 0
            }
        }
        if let failure { throw ListServiceError("cannot read list '\(path)': \(failure.errno)") }
        guard buffer.readableBytes == wanted else { throw ListServiceError("list '\(path)' shrank while it was sent") }
        return buffer
    }
}

public struct ListServiceError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension HTTPFields {
    /// These fields without those that describe a body: a `304` has none, and a client
    /// that decompresses would wait for a gzip stream that never comes.
    var notModified: HTTPFields {
        var fields = self
        for name in [HTTPField.Name.contentLength, .contentEncoding, .contentType] { fields[name] = nil }
        return fields
    }
}

extension ListFileAttributes {
    func add(to fields: inout HTTPFields) {
        fields[HTTPField.Name(Self.modeHeader)!] = modeValue
        fields[HTTPField.Name(Self.timeHeader)!] = timeValue
    }
}
