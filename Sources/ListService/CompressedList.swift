import CGzip
import Crypto
import HTTPTypes
import LinuxCalls
import ListProtocol
import NIOCore
import SystemPackage

/// The gzip representation of one list version, kept in a memory file so that every
/// request for it is a sendfile(2), like the plain list.
///
/// It is made of the list's segments, each compressed on its own (a raw deflate fragment
/// ending with a sync flush: no back-references across segments), then a final empty
/// block and gzip's CRC-32 and length. The CRC-32 of the whole is combined from the
/// segments'. So a new version reuses the compressed bytes of every segment the previous
/// one had (matched by digest) and compresses only the segments that changed: the cost
/// follows the change, not the list. Until a version's form is made, clients get it plain.
final class CompressedList: Sendable {
    let size: Int
    let etag: String
    /// The fields of a `200` of this representation, and of its `304`.
    let headers: HTTPFields
    let notModifiedHeaders: HTTPFields
    let descriptor: SystemPackage.FileDescriptor
    /// Each segment: its compressed bytes' place in `descriptor` and their CRC-32, by the
    /// segment's digest.
    private let pieces: [SHA256.Digest: Piece]

    struct Piece: Sendable {
        var offset: Int64
        var length: Int64
        var plainLength: Int
        var crc: UInt32
        /// Entry lines in the segment (`EntryLines`).
        var entries: Int
    }

    /// Segments compressed anew (the rest were reused), for logs and tests.
    let compressedSegments: Int
    /// The list's entry lines: counted in the segments compressed anew, the others' counts
    /// reused with their bytes, so the status page's figure costs no read of its own.
    let entries: Int

    private init(
        descriptor: SystemPackage.FileDescriptor, size: Int, of version: ListVersion, pieces: [SHA256.Digest: Piece],
        compressedSegments: Int, entries: Int
    ) {
        self.descriptor = descriptor
        self.size = size
        self.pieces = pieces
        self.compressedSegments = compressedSegments
        self.entries = entries
        etag = EntityTag.gzipList(digest: version.digest).description
        var headers = version.headers
        headers[.eTag] = etag
        headers[.contentEncoding] = ListCoding.gzip
        headers[.contentLength] = String(size)
        self.headers = headers
        notModifiedHeaders = headers.notModified
    }

    deinit { try? descriptor.close() }

    /// gzip's header: deflate, no name, no time, made on Unix.
    private static let header: [UInt8] = [0x1F, 0x8B, 0x08, 0x00, 0, 0, 0, 0, 0x04, 0x03]
    /// A final, empty block with fixed codes: it ends the stream after the last segment's flush.
    private static let finalBlock: [UInt8] = [0x03, 0x00]

    /// Makes the form of `version`, reusing `previous`'s compressed segments. Gives up
    /// (nil) as soon as `wanted` says no: a newer version replaced it, and compressing a
    /// list nobody will be served would take a core from the next publish.
    static func make(from version: ListVersion, reusing previous: CompressedList?, while wanted: () -> Bool = { true })
        throws -> CompressedList?
    {
        let name = "gzip:\(version.path)"
        let file = try Linux.memoryFile(name: name)
        guard let deflater = qm_deflater_new(1) else {
            try? file.close()
            throw ListServiceError("cannot compress \(version.path): zlib could not allocate its state")
        }
        defer { qm_deflater_free(deflater) }
        do {
            var offset = Int64(header.count)
            try header.withUnsafeBytes { try Linux.pwriteAll(file, $0, at: 0, displayPath: name) }
            var crc: UInt32 = 0
            var pieces: [SHA256.Digest: Piece] = [:]
            var compressed = 0
            var entries = 0
            // A run of reused bytes, copied in one call when it ends.
            var run: (from: Int64, to: Int64, length: Int64)?
            func flushRun() throws {
                guard let pending = run, let previous else { return }
                try Linux.copyRange(
                    from: previous.descriptor, at: pending.from, to: file, at: pending.to, count: pending.length,
                    displayPath: name)
                run = nil
            }
            var sinceCheck = 0
            for segment in version.list.segments {
                if let old = previous?.pieces[segment.digest], old.plainLength == segment.length {
                    if let pending = run, pending.from + pending.length == old.offset {
                        run = (pending.from, pending.to, pending.length + old.length)
                    } else {
                        try flushRun()
                        run = (old.offset, offset, old.length)
                    }
                    pieces[segment.digest] = Piece(
                        offset: offset, length: old.length, plainLength: segment.length, crc: old.crc,
                        entries: old.entries)
                    entries += old.entries
                    crc = qm_crc32_combine(crc, old.crc, Int64(segment.length))
                    offset += old.length
                    continue
                }
                sinceCheck += segment.length
                if sinceCheck >= 1 << 20 {
                    sinceCheck = 0
                    guard wanted() else {
                        try? file.close()
                        return nil
                    }
                }
                try flushRun()
                let plain = try version.list.bytes(at: segment.offset, count: segment.length)
                let (deflated, segmentCRC) = try plain.withUnsafeBytes { input in
                    let capacity = qm_deflate_bound(deflater, input.count)
                    var output = [UInt8](repeating: 0, count: capacity)
                    let written = output.withUnsafeMutableBytes {
                        qm_deflate_segment(deflater, input.baseAddress, input.count, $0.baseAddress, capacity)
                    }
                    guard written >= 0 else { throw ListServiceError("cannot compress \(version.path): zlib failed") }
                    output.removeSubrange(Int(written)...)
                    return (output, qm_crc32(0, input.baseAddress, input.count))
                }
                try deflated.withUnsafeBytes { try Linux.pwriteAll(file, $0, at: offset, displayPath: name) }
                let segmentEntries = EntryLines.count(in: plain)
                entries += segmentEntries
                pieces[segment.digest] = Piece(
                    offset: offset, length: Int64(deflated.count), plainLength: segment.length, crc: segmentCRC,
                    entries: segmentEntries)
                crc = qm_crc32_combine(crc, segmentCRC, Int64(segment.length))
                offset += Int64(deflated.count)
                compressed += 1
            }
            try flushRun()
            var trailer = finalBlock
            withUnsafeBytes(of: crc.littleEndian) { trailer += $0 }
            withUnsafeBytes(of: UInt32(truncatingIfNeeded: version.size).littleEndian) { trailer += $0 }
            try trailer.withUnsafeBytes { try Linux.pwriteAll(file, $0, at: offset, displayPath: name) }
            offset += Int64(trailer.count)
            return CompressedList(
                descriptor: file, size: Int(offset), of: version, pieces: pieces, compressedSegments: compressed,
                entries: entries)
        } catch {
            try? file.close()
            throw error
        }
    }
}

/// What counts as an entry of a served list: a `[Files]` line of a time list (the only
/// lines with three TABs: a checksum line has one) or a `./` line of a path list. Decided
/// line by line, so a segment's count holds wherever the segment sits.
enum EntryLines {
    static func count(in bytes: [UInt8]) -> Int {
        var count = 0
        var tabs = 0
        var column = 0
        var first: UInt8 = 0
        var pathLine = false
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                if tabs == 3 || (pathLine && tabs == 0) { count += 1 }
                tabs = 0
                column = 0
                pathLine = false
                continue
            }
            if byte == UInt8(ascii: "\t") { tabs += 1 }
            if column == 0 {
                first = byte
            } else if column == 1 {
                pathLine = first == UInt8(ascii: ".") && byte == UInt8(ascii: "/")
            }
            column += 1
        }
        return count
    }
}
