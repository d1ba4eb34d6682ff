import AsyncHTTPClient
import CompressNIO
import ListProtocol
import NIOCore

/// The list a whole-list answer carries, and the ETag to keep for it.
enum ListBody {
    /// A body whose ETag names a list digest (filelistd's, in either representation) must
    /// have that digest once decompressed, and the identity ETag is kept: the one
    /// `/changes` knows. Any other server's ETag is kept as it came. `compressed` is the
    /// size that crossed the network, when it came gzip-compressed.
    static func decoded(_ response: HTTPClient.Response, url: String) throws(ListTransportError) -> (
        list: ByteBuffer, etag: String?, compressed: Int?, segments: [ListSegment]?
    ) {
        let etag = response.headers.first(name: "ETag")
        let body = response.body ?? ByteBuffer()
        var list = body
        var compressed: Int?
        if let coding = response.headers.first(name: "Content-Encoding")?.lowercased(), coding != "identity" {
            guard coding == ListCoding.gzip || coding == "x-gzip" else {
                throw ListTransportError(
                    "cannot read \(url): it came in an encoding this client did not ask for (\(coding))")
            }
            compressed = body.readableBytes
            list = try decompressed(body, url: url)
        }
        guard let etag, let digest = EntityTag(etag)?.listDigest else { return (list, etag, compressed, nil) }
        let (found, segments) = list.withUnsafeReadableBytes { bytes in
            var digester = ListDigester()
            digester.update(bytes)
            return digester.finish()
        }
        guard found == digest else {
            throw ListTransportError("cannot use \(url): the list's digest is not the one its ETag names")
        }
        return (list, EntityTag.list(digest: digest).description, compressed, segments)
    }

    private static func decompressed(_ body: ByteBuffer, url: String) throws(ListTransportError) -> ByteBuffer {
        do {
            // gzip's trailer holds the size of the content (modulo 4 GiB): one buffer of
            // that size is enough, unless the trailer lies, then buffers grow as needed.
            var sized = body
            var plain = ByteBufferAllocator().buffer(capacity: gzipSizeHint(body))
            do {
                try sized.decompress(to: &plain, with: .gzip())
            } catch let error as CompressNIOError where error == .bufferOverflow {
                var whole = body
                plain = try whole.decompress(with: .gzip())
            }
            return plain
        } catch {
            throw ListTransportError("cannot read \(url): its gzip body does not decompress (\(error))")
        }
    }

    private static func gzipSizeHint(_ body: ByteBuffer) -> Int {
        guard body.readableBytes >= 18,
            let size = body.getInteger(at: body.writerIndex - 4, endianness: .little, as: UInt32.self)
        else { return 1 << 16 }
        return min(Int(size) + 1, 64 * body.readableBytes + (1 << 16))
    }
}
