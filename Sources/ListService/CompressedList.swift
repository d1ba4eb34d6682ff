import ListProtocol
import CompressNIO
import HTTPTypes
import LinuxCalls
import NIOCore
import SystemPackage

/// The gzip representation of one list version, made once per generation and kept in
/// a memory file, so that every request for it is a sendfile(2), like the plain list.
///
/// A list is mostly paths that share long prefixes: gzip makes it about 6 times
/// smaller. Compressing costs about a second of one core per 130 MB (1M entries), on
/// the catalog's queue after the generation is announced; until it is done, clients
/// get the plain list.
final class CompressedList: Sendable {
    let size: Int
    let etag: String
    /// The fields of a `200` of this representation, and of its `304`.
    let headers: HTTPFields
    let notModifiedHeaders: HTTPFields
    let descriptor: SystemPackage.FileDescriptor

    private init(descriptor: SystemPackage.FileDescriptor, size: Int, of version: ListVersion) {
        self.descriptor = descriptor
        self.size = size
        etag = ListCoding.gzipETag(digest: version.digest)
        var headers = version.headers
        headers[.eTag] = etag
        headers[.contentEncoding] = ListCoding.gzip
        headers[.contentLength] = String(size)
        self.headers = headers
        notModifiedHeaders = headers.notModified
    }

    deinit { try? descriptor.close() }

    /// Compresses `version` in 1 MiB steps: the list is never in memory whole. Gives up
    /// (nil) as soon as `wanted` says no: a newer version replaced it, and compressing a
    /// list nobody will be served would take a core from the next publish.
    static func make(from version: ListVersion, while wanted: () -> Bool = { true }) throws -> CompressedList? {
        let file = try Linux.memoryFile(name: "gzip:\(version.path)")
        do {
            // The fastest level: a third of the default's CPU for about 15% more bytes
            // (1M entries: 21 MB against 18 MB, 132 MB plain), paid at every generation.
            let compressor = CompressionAlgorithm.gzip(configuration: .init(compressionLevel: .fastestCompression))
                .compressor
            compressor.window = ByteBufferAllocator().buffer(capacity: 1 << 18)
            try compressor.startStream()
            var offset = 0
            var size = 0
            let write = { (output: ByteBuffer) throws in
                try output.withUnsafeReadableBytes { bytes in
                    try Linux.writeAll(file, bytes, displayPath: "gzip:\(version.path)")
                }
                size += output.readableBytes
            }
            repeat {
                guard wanted() else {
                    try? file.close()
                    return nil
                }
                var chunk = try version.chunk(at: offset, count: 1 << 20)
                offset += chunk.readableBytes
                let last = offset >= version.size
                try chunk.compressStream(with: compressor, flush: last ? .finish : .no, process: write)
            } while offset < version.size
            try compressor.finishStream()
            return CompressedList(descriptor: file, size: size, of: version)
        } catch {
            try? file.close()
            throw error
        }
    }
}
