import AsyncHTTPClient
import CompressNIO
import ListProtocol
import NIOCore

/// The list a whole-list answer carries, and the ETag to keep for it.
public enum ListBody {
    /// A gzip body from filelistd names the SHA-256 of the list in its ETag: the
    /// decompressed bytes must have it, and the identity ETag is kept (the one
    /// `/changes` knows). Any other server's ETag is kept as it came. `compressed` is the
    /// size that crossed the network.
    public static func decoded(_ response: HTTPClient.Response, url: String) throws(ListTransportError) -> (
        list: ByteBuffer, etag: String?, compressed: Int?
    ) {
        let etag = response.headers.first(name: "ETag")
        var body = response.body ?? ByteBuffer()
        let coding = response.headers.first(name: "Content-Encoding")?.lowercased()
        guard let coding, coding != "identity" else { return (body, etag, nil) }
        let compressed = body.readableBytes
        guard coding == ListCoding.gzip || coding == "x-gzip" else {
            throw ListTransportError(
                "cannot read \(url): it came in an encoding this client did not ask for (\(coding))")
        }
        var plain: ByteBuffer
        do {
            // gzip's trailer holds the size of the content (modulo 4 GiB): one buffer of
            // that size is enough, unless the trailer lies, then buffers grow as needed.
            var sized = body
            plain = ByteBufferAllocator().buffer(capacity: gzipSizeHint(body))
            do {
                try sized.decompress(to: &plain, with: .gzip())
            } catch let error as CompressNIOError where error == .bufferOverflow {
                plain = try body.decompress(with: .gzip())
            }
        } catch {
            throw ListTransportError("cannot read \(url): its gzip body does not decompress (\(error))")
        }
        guard let etag, let digest = ListCoding.digest(ofGzipETag: etag) else { return (plain, etag, compressed) }
        guard plain.withUnsafeReadableBytes({ ListDigest.hex(of: $0) }) == digest else {
            throw ListTransportError("cannot use \(url): the decompressed list's digest is not the one its ETag names")
        }
        return (plain, "\"\(digest)\"", compressed)
    }

    private static func gzipSizeHint(_ body: ByteBuffer) -> Int {
        guard body.readableBytes >= 18,
            let size = body.getInteger(at: body.writerIndex - 4, endianness: .little, as: UInt32.self)
        else { return 1 << 16 }
        return min(Int(size) + 1, 64 * body.readableBytes + (1 << 16))
    }
}
