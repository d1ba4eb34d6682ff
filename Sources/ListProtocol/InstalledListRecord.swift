import Crypto
import Foundation

/// What a mirror knows of a list it installed, kept beside it so that the next version
/// costs what changed: quick-mirror applies the next delta to the file and checks its
/// digest from these segments without reading the list, plans from the change without
/// parsing it, and the local `filelistd relay` serves the new version with these
/// segments and this delta instead of reading and comparing it whole.
///
/// A record stands for the file only while the file is the one it describes
/// (`identity`: inode, size, modification time); a list replaced since is read again.
public struct InstalledListRecord: Sendable, Equatable {
    /// The list's path below the mirror's top directory.
    public var path: String
    /// `INODE:SIZE:SECONDS.NANOSECONDS` of the installed file.
    public var identity: String
    /// The list digest (without quotes).
    public var digest: String
    /// Lines in the `[Files]` section.
    public var entries: Int
    public var segments: [ListSegment]
    /// The `[Files]` lines whose time is at least `recentSince`, each with its newline:
    /// what a run whose last run started at or after that time fetches again whatever
    /// changed (the reference's rule). Nil when not known.
    public var recentSince: Int64?
    public var recentLines: [UInt8]
    /// The encoded delta from the version installed before to this one, when it came as one.
    public var delta: [UInt8]?

    public init(
        path: String, identity: String, digest: String, entries: Int, segments: [ListSegment],
        recentSince: Int64?, recentLines: [UInt8], delta: [UInt8]?
    ) {
        self.path = path
        self.identity = identity
        self.digest = digest
        self.entries = entries
        self.segments = segments
        self.recentSince = recentSince
        self.recentLines = recentLines
        self.delta = delta
    }

    /// `INODE:SIZE:SECONDS.NANOSECONDS` of the file at `path`, nil when there is none:
    /// the one form of a file's identity, for these records and quick-mirror's saved ETags.
    public static func identity(of path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return identity(info)
    }

    /// The identity of a file already stat'ed.
    public static func identity(_ info: stat) -> String {
        "\(info.st_ino):\(info.st_size):\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
    }

    /// Whether the file at `root/path` is still the one described.
    public func describes(root: String) -> Bool { Self.identity(of: "\(root)/\(path)") == identity }

    static let magic = Array("quick-mirror installed lists 1\n".utf8)

    /// The records as one file's bytes: a line of fields per record, then its binary parts.
    public static func encode(_ records: [InstalledListRecord]) -> [UInt8] {
        var bytes = magic
        for record in records {
            let recent = record.recentSince.map(String.init) ?? "-"
            let header =
                "\(record.path)\t\(record.identity)\t\(record.digest)\t\(record.entries)\t\(record.segments.count)\t"
                + "\(recent)\t\(record.recentLines.count)\t\(record.delta.map { String($0.count) } ?? "-")\n"
            bytes += Array(header.utf8)
            for segment in record.segments {
                withUnsafeBytes(of: UInt64(segment.length).littleEndian) { bytes += $0 }
                segment.digest.withUnsafeBytes { bytes += $0 }
            }
            bytes += record.recentLines
            bytes += record.delta ?? []
        }
        return bytes
    }

    /// Reads what `encode` wrote; nil for anything else (the records are then ignored,
    /// and the lists read whole once).
    public static func decode(_ bytes: [UInt8]) -> [InstalledListRecord]? {
        guard bytes.starts(with: magic) else { return nil }
        var records: [InstalledListRecord] = []
        var position = magic.count
        while position < bytes.count {
            guard let newline = bytes[position...].firstIndex(of: 0x0A) else { return nil }
            let fields = bytes[position..<newline].split(separator: 0x09, omittingEmptySubsequences: false).map {
                String(decoding: $0, as: UTF8.self)
            }
            position = newline + 1
            guard fields.count == 8, let entries = Int(fields[3]), let segmentCount = Int(fields[4]),
                let recentCount = Int(fields[6]), entries >= 0, segmentCount >= 0, recentCount >= 0,
                ListDigest.isWellFormed(fields[2])
            else { return nil }
            let recentSince = fields[5] == "-" ? nil : Int64(fields[5])
            if fields[5] != "-" && recentSince == nil { return nil }
            let deltaCount = fields[7] == "-" ? nil : Int(fields[7])
            if fields[7] != "-" && (deltaCount ?? -1) < 0 { return nil }
            // Every count is checked against what is left before it is added: a damaged
            // or hostile file is refused, never a trap.
            let left = bytes.count - position
            let segmentBytes = segmentCount.multipliedReportingOverflow(by: 40)
            guard !segmentBytes.overflow, segmentBytes.partialValue <= left,
                recentCount <= left - segmentBytes.partialValue,
                deltaCount ?? 0 <= left - segmentBytes.partialValue - recentCount
            else { return nil }
            var segments: [ListSegment] = []
            segments.reserveCapacity(segmentCount)
            var offset = 0
            for _ in 0..<segmentCount {
                var stored: UInt64 = 0
                withUnsafeMutableBytes(of: &stored) { $0.copyBytes(from: bytes[position..<position + 8]) }
                let length = UInt64(littleEndian: stored)
                guard let digest = Self.digest(bytes[(position + 8)..<(position + 40)]), length > 0,
                    length < UInt64(Int.max / 4)
                else { return nil }
                let (next, overflow) = offset.addingReportingOverflow(Int(length))
                guard !overflow else { return nil }
                segments.append(ListSegment(offset: offset, length: Int(length), digest: digest))
                offset = next
                position += 40
            }
            let recentLines = Array(bytes[position..<(position + recentCount)])
            position += recentCount
            let delta = deltaCount.map { Array(bytes[position..<(position + $0)]) }
            position += deltaCount ?? 0
            // The segments must be the digest's own: a record at odds with itself is not one.
            guard ListDigest.combine(segments.map(\.digest)) == fields[2] else { return nil }
            records.append(
                InstalledListRecord(
                    path: fields[0], identity: fields[1], digest: fields[2], entries: entries, segments: segments,
                    recentSince: recentSince, recentLines: recentLines, delta: delta))
        }
        return records
    }

    /// A SHA-256 digest from its 32 bytes. swift-crypto has no public initializer for
    /// one; its storage is the 32 bytes, and the result is checked byte for byte (a
    /// different layout makes the records unusable, never wrong).
    static func digest(_ bytes: ArraySlice<UInt8>) -> SHA256.Digest? {
        guard bytes.count == 32, MemoryLayout<SHA256.Digest>.size == 32 else { return nil }
        var words = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        withUnsafeMutableBytes(of: &words) { $0.copyBytes(from: bytes) }
        let digest = unsafeBitCast(words, to: SHA256.Digest.self)
        return digest.elementsEqual(bytes) ? digest : nil
    }
}
