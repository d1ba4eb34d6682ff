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

/// One version of a published list, held open: a response that started on it is served
/// whole from it even after a newer list is renamed over the path.
///
/// Everything a response about this version carries is made once, here: a poll is
/// answered with fields built when the version was installed, never with per-request
/// formatting.
public final class ListVersion: Sendable {
    /// The path below the served root, as clients ask for it.
    public let path: String
    /// The SHA-256 of the content, hex: the same bytes get the same ETag on every
    /// server and across restarts.
    public let digest: String
    public let size: Int
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
    let identity: FileIdentity
    let descriptor: FileDescriptor
    private let compressedForm = Mutex<CompressedList?>(nil)

    /// `descriptor` is the list's open file (owned from now on), `digest` the SHA-256 of
    /// its bytes as whoever wrote or read them computed it.
    init(path: String, descriptor: FileDescriptor, info: stat, digest: String) {
        self.path = path
        self.descriptor = descriptor
        self.identity = FileIdentity(info)
        self.digest = digest
        self.size = Int(info.st_size)
        let etag = "\"\(digest)\""
        self.etag = etag
        self.gzipETag = ListCoding.gzipETag(digest: digest)
        // Vary: a cache between here and a mirror must not hand gzip to a client that
        // did not ask for it, nor the reverse.
        var headers: HTTPFields = [
            .eTag: etag, .contentType: "text/plain; charset=utf-8", .cacheControl: "no-cache",
            .vary: "Accept-Encoding",
            .lastModified: HTTPDate.format(secondsSinceEpoch: Int(info.st_mtim.tv_sec)),
        ]
        attributes = ListFileAttributes(
            mode: UInt32(info.st_mode), seconds: Int(info.st_mtim.tv_sec), nanoseconds: Int(info.st_mtim.tv_nsec))
        attributes.add(to: &headers)
        self.notModifiedHeaders = headers.notModified
        headers[.contentLength] = String(size)
        self.headers = headers
    }

    deinit { try? descriptor.close() }

    /// The gzip representation, once the catalog has made it.
    var compressed: CompressedList? { compressedForm.withLock { $0 } }

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
        ListServer.matches(ifNoneMatch, etag) || ListServer.matches(ifNoneMatch, gzipETag)
    }

    /// The version a publisher wrote: `file` was renamed into place with these bytes
    /// (their digest computed while they were written); nothing of it is read back.
    public static func published(_ file: String, path: String, digest: String) throws(ListServiceError) -> ListVersion {
        let (descriptor, info) = try openFile(file)
        return ListVersion(path: path, descriptor: descriptor, info: info, digest: digest)
    }

    /// Opens `file` and hashes it, unless it is still `current`'s file: for lists another
    /// program installs (a relay's), whose digest nobody handed over.
    static func open(_ file: String, path: String, unless current: ListVersion?) throws(ListServiceError) -> (
        ListVersion, [UInt8]
    )? {
        let (descriptor, info) = try openFile(file)
        if let current, current.identity == FileIdentity(info) {
            try? descriptor.close()
            return nil
        }
        let bytes: [UInt8]
        do {
            bytes = try readAll(descriptor, size: Int(info.st_size), name: file)
        } catch {
            try? descriptor.close()
            throw error
        }
        let version = ListVersion(path: path, descriptor: descriptor, info: info, digest: ListDigest.hex(of: bytes))
        return (version, bytes)
    }

    private static func openFile(_ file: String) throws(ListServiceError) -> (FileDescriptor, stat) {
        let descriptor: FileDescriptor
        do {
            descriptor = try Linux.openat(nil, file, flags: O_RDONLY)
        } catch {
            throw ListServiceError("cannot open list '\(file)': \(error.errno)")
        }
        do {
            return (descriptor, try Linux.fstat(descriptor, displayPath: file))
        } catch {
            try? descriptor.close()
            throw ListServiceError("cannot stat list '\(file)': \(error.errno)")
        }
    }

    /// Whether this version is the file now at `file` (a relay's lists change behind its back).
    func isCurrent(at file: String) -> Bool {
        Linux.statPath(file).map { FileIdentity($0) == identity } ?? false
    }

    /// The whole content again (to compute a delta from the previous version).
    func bytes() throws(ListServiceError) -> [UInt8] { try readAll(descriptor, size: size, name: path) }

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

/// Exactly `size` bytes from `start`.
private func readAll(_ descriptor: FileDescriptor, size: Int, at start: Int = 0, name: String) throws(ListServiceError)
    -> [UInt8]
{
    var failure: SystemCallError?
    let bytes = [UInt8](unsafeUninitializedCapacity: max(size, 0)) { buffer, count in
        do throws(SystemCallError) {
            count = try Linux.preadFully(
                descriptor, into: UnsafeMutableRawBufferPointer(buffer), offset: Int64(start), displayPath: name)
        } catch {
            failure = error
            count = 0
        }
    }
    if let failure { throw ListServiceError("cannot read list '\(name)': \(failure.errno)") }
    guard bytes.count == size else { throw ListServiceError("list '\(name)' shrank while it was read") }
    return bytes
}

/// Which file a path named: a new list is a new inode (it is renamed into place).
struct FileIdentity: Equatable, Sendable {
    var device: UInt64
    var inode: UInt64
    var size: Int64
    var modified: Int

    init(_ info: stat) {
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        size = Int64(info.st_size)
        modified = info.st_mtim.tv_sec * 1_000_000_000 + info.st_mtim.tv_nsec
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
