/// Renders the fullfiletimelist format into bytes.
///
/// The renderer only appends to a byte buffer: callers decide where bytes go (stdout, an
/// atomic file, a cache), which keeps the format free of I/O and lets the scanner render
/// lines on worker threads.
public enum FileListFormat {
    /// The version written by default. The reference writes 2 although it already emits
    /// the version 3 type suffixes; clients accept anything up to 3.
    public static let defaultVersion = 2
    public static let highestVersion = 3

    static let versionHeader = Array("[Version]".utf8)
    static let filesHeader = Array("[Files]".utf8)
    static let endMarker = Array("[End]".utf8)
    static let checksumsPrefix = Array("[Checksums ".utf8)

    /// `[Version]`, the version line, an empty line and `[Files]`.
    public static func appendHeader(version: Int = defaultVersion, to out: inout [UInt8]) {
        out.append(contentsOf: versionHeader)
        out.append(newline)
        appendDecimal(Int64(version), to: &out)
        out.append(newline)
        out.append(newline)
        out.append(contentsOf: filesHeader)
        out.append(newline)
    }

    /// One `[Files]` line. The path is given as a directory prefix (empty, or ending in
    /// `/`) and a name, so a scanner can render without building each path first.
    @inlinable
    public static func appendLine(
        time: Int64, type: EntryType, size: Int64,
        prefix: UnsafeBufferPointer<UInt8>, name: UnsafeBufferPointer<UInt8>,
        to out: inout [UInt8]
    ) {
        // The whole line is put together on the stack and appended at once: byte-by-byte
        // appends made rendering a 100 MB list take twice as long, and four appends per
        // line (numbers, prefix, name, newline) cost a third of what was left.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 48 + prefix.count + name.count) { line in
            var end = writeDecimal(time, into: line, at: 0)
            line[end] = tab
            line[end + 1] = type.kind.rawValue
            end += 2
            if type.access != .open {
                line[end] = type.access.rawValue
                end += 1
            }
            line[end] = tab
            end = writeDecimal(size, into: line, at: end + 1)
            line[end] = tab
            end += 1
            if let base = prefix.baseAddress, !prefix.isEmpty {
                (line.baseAddress! + end).initialize(from: base, count: prefix.count)
                end += prefix.count
            }
            if let base = name.baseAddress, !name.isEmpty {
                (line.baseAddress! + end).initialize(from: base, count: name.count)
                end += name.count
            }
            line[end] = newline
            out.append(contentsOf: UnsafeBufferPointer(rebasing: line[0...end]))
        }
    }

    /// Writes `value` in decimal at `start` (20 digits and a sign at most); returns the end.
    @inlinable
    static func writeDecimal(_ value: Int64, into out: UnsafeMutableBufferPointer<UInt8>, at start: Int) -> Int {
        var position = start
        if value < 0 {
            out[position] = 0x2D
            position += 1
        }
        var remaining = value.magnitude
        var digits = 1
        var scale: UInt64 = 10
        while digits < 20 && remaining >= scale {
            digits += 1
            scale = scale &* 10
        }
        var index = position + digits
        let end = index
        repeat {
            index -= 1
            out[index] = UInt8(truncatingIfNeeded: remaining % 10) &+ 0x30
            remaining /= 10
        } while remaining > 0
        return end
    }

    public static func appendLine(_ entry: FileListEntry, to out: inout [UInt8]) {
        entry.path.withUnsafeBufferPointer { path in
            appendLine(
                time: entry.time, type: entry.type, size: entry.size,
                prefix: UnsafeBufferPointer(start: nil, count: 0), name: path, to: &out)
        }
    }

    /// Ends `[Files]`, writes one section per algorithm (each listing the same files,
    /// sorted by path bytes, as the reference does) and `[End]`.
    public static func appendTrailer(
        checksums: [FileChecksum], algorithms: [ChecksumAlgorithm] = [.sha1], to out: inout [UInt8]
    ) {
        let sorted = checksums.sorted { $0.path.lexicographicallyPrecedes($1.path) }
        for algorithm in algorithms.sorted() {
            out.append(newline)
            out.append(contentsOf: checksumsPrefix)
            out.append(contentsOf: algorithm.sectionName.utf8)
            out.append(closingBracket)
            out.append(newline)
            for checksum in sorted {
                guard let hex = checksum.hex[algorithm] else { continue }
                out.append(contentsOf: hex.utf8)
                out.append(tab)
                out.append(contentsOf: checksum.path)
                out.append(newline)
            }
        }
        out.append(newline)
        out.append(contentsOf: endMarker)
        out.append(newline)
    }

    /// A whole list in memory: for tests and small trees. Large trees stream through
    /// `appendHeader`/`appendLine`/`appendTrailer`.
    public static func render(
        entries: [FileListEntry], checksums: [FileChecksum] = [], algorithms: [ChecksumAlgorithm] = [.sha1],
        version: Int = defaultVersion
    ) -> [UInt8] {
        var out: [UInt8] = []
        appendHeader(version: version, to: &out)
        for entry in entries { appendLine(entry, to: &out) }
        appendTrailer(checksums: checksums, algorithms: algorithms, to: &out)
        return out
    }

    @usableFromInline static let tab: UInt8 = 0x09
    @usableFromInline static let newline: UInt8 = 0x0A
    static let closingBracket: UInt8 = 0x5D

    /// Decimal digits without going through `String`: this runs once or twice per line.
    @inlinable
    public static func appendDecimal(_ value: Int64, to out: inout [UInt8]) {
        if value < 0 {
            out.append(0x2D)
            appendDecimal(UInt64(value.magnitude), to: &out)
        } else {
            appendDecimal(UInt64(value), to: &out)
        }
    }

    @inlinable
    static func appendDecimal(_ value: UInt64, to out: inout [UInt8]) {
        if value < 10 {
            out.append(UInt8(truncatingIfNeeded: value) &+ 0x30)
            return
        }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var remaining = value
            var index = 20
            while remaining > 0 {
                index -= 1
                digits[index] = UInt8(truncatingIfNeeded: remaining % 10) &+ 0x30
                remaining /= 10
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: digits[index..<20]))
        }
    }
}
