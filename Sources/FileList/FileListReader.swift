/// A parsed list.
public struct FileList: Sendable, Equatable {
    public var version: Int
    public var entries: [FileListEntry]
    /// Checksum lines per algorithm, in file order.
    public var checksums: [ChecksumAlgorithm: [ChecksumLine]]

    public init(version: Int, entries: [FileListEntry], checksums: [ChecksumAlgorithm: [ChecksumLine]]) {
        self.version = version
        self.entries = entries
        self.checksums = checksums
    }
}

public struct ChecksumLine: Sendable, Hashable {
    public var hex: String
    public var path: [UInt8]

    public init(hex: String, path: [UInt8]) {
        self.hex = hex
        self.path = path
    }
}

/// Why a list was refused, with the line it was refused at.
public struct FileListError: Error, Equatable, CustomStringConvertible {
    public enum Problem: Sendable, Equatable, CustomStringConvertible {
        case missingVersionHeader
        case badVersion(String)
        case unsupportedVersion(Int)
        case expectedEmptyLine
        case missingFilesHeader
        case wrongFieldCount(Int)
        case badTime(String)
        case badType(String)
        case badSize(String)
        case badPath(RelativePath.Problem, String)
        case unknownSection(String)
        case badChecksumLine(String)
        case contentAfterEnd
        case truncated

        public var description: String {
            switch self {
            case .missingVersionHeader: "expected '[Version]' as the first line"
            case .badVersion(let text): "version '\(text)' is not a number"
            case .unsupportedVersion(let version):
                "list version \(version) is not supported (this client reads versions 1 to \(FileListFormat.highestVersion))"
            case .expectedEmptyLine: "expected an empty line after the version"
            case .missingFilesHeader: "expected '[Files]'"
            case .wrongFieldCount(let count):
                "expected 4 TAB-separated fields (time, type, size, path), found \(count)"
            case .badTime(let text): "time '\(text)' is not a whole number of seconds"
            case .badType(let text): "type '\(text)' is not one of f, d, l with an optional '-' or '*'"
            case .badSize(let text): "size '\(text)' is not a whole number of bytes"
            case .badPath(let problem, let path): "\(problem): '\(path)'"
            case .unknownSection(let header): "unknown section '\(header)'"
            case .badChecksumLine(let text): "malformed checksum line '\(text)'"
            case .contentAfterEnd: "content after '[End]'"
            case .truncated: "list is truncated: it ends without an '[End]' line"
            }
        }
    }

    /// The file or URL the list came from, when the caller knows it.
    public var source: String?
    /// 1-based line number.
    public var line: Int
    public var problem: Problem

    public init(source: String? = nil, line: Int, problem: Problem) {
        self.source = source
        self.line = line
        self.problem = problem
    }

    public var description: String {
        let location = source.map { "\($0): line \(line)" } ?? "line \(line)"
        return "\(location): \(problem)"
    }
}

/// A strict reader: it refuses anything a careful client should not act on, and names
/// the line. A refused list must never lead to a deletion, so there is no lenient mode.
public enum FileListReader {
    public static func parse(_ bytes: [UInt8], source: String? = nil) throws(FileListError) -> FileList {
        let result = bytes.withUnsafeBufferPointer { buffer in
            Result { () throws(FileListError) in try parse(buffer) }
        }
        do {
            return try result.get()
        } catch var error {
            error.source = source
            throw error
        }
    }

    /// One `[Files]` line as the reader sees it: the path points into the list's bytes.
    public struct EntryView {
        public var time: Int64
        public var type: EntryType
        public var size: Int64
        public var path: UnsafeBufferPointer<UInt8>
        /// Where the path starts in the list's bytes.
        public var pathOffset: Int
    }

    /// The same strict reading as `parse`, without building an entry per line: `entry`
    /// sees each `[Files]` line in place. Returns the version and the checksums.
    public static func read(
        _ buffer: UnsafeBufferPointer<UInt8>, source: String? = nil, entry: (EntryView) -> Void
    ) throws(FileListError) -> (version: Int, checksums: [ChecksumAlgorithm: [ChecksumLine]]) {
        do {
            return try read(buffer, entry: entry)
        } catch var error {
            error.source = source
            throw error
        }
    }

    private enum Section {
        case checksums(ChecksumAlgorithm)
        case between
    }

    private static func parse(_ buffer: UnsafeBufferPointer<UInt8>) throws(FileListError) -> FileList {
        var entries: [FileListEntry] = []
        let (version, checksums) = try read(buffer) { view in
            entries.append(FileListEntry(time: view.time, type: view.type, size: view.size, path: Array(view.path)))
        }
        return FileList(version: version, entries: entries, checksums: checksums)
    }

    private static func read(
        _ buffer: UnsafeBufferPointer<UInt8>, entry visit: (EntryView) -> Void
    ) throws(FileListError) -> (version: Int, checksums: [ChecksumAlgorithm: [ChecksumLine]]) {
        var header = LineCursor(buffer)
        let version = try readHeader(&header)
        let files = try readFilesLines(
            buffer, from: header.offset, to: buffer.count, number: header.number, entry: visit)
        guard files.ended else { throw FileListError(line: files.number, problem: .truncated) }
        var trailer = LineCursor(buffer, from: files.offset, number: files.number)
        return (version, try readTrailer(&trailer))
    }

    /// `[Files]` lines of a list in memory, from `start` (a line start) to `end` (a line
    /// start, or the end of the list), as `readFilesLines` reads them from any lines, with
    /// `pathOffset` set. Returns where it stopped (after the empty line, if one ended
    /// the section) and the number of the last line read.
    static func readFilesLines(
        _ buffer: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int, number: Int,
        entry visit: (EntryView) -> Void
    ) throws(FileListError) -> (ended: Bool, offset: Int, number: Int) {
        guard let base = buffer.baseAddress else { return (false, start, number) }
        var offset = start
        var number = number
        while offset < end {
            number += 1
            if base[offset] == FileListFormat.newline { return (true, offset + 1, number) }
            if var view = FastLine.parse(base, from: offset, count: buffer.count), view.pathOffset < end {
                let lineEnd = view.pathOffset
                view.pathOffset = view.path.baseAddress! - base
                visit(view)
                offset = lineEnd + 1
                continue
            }
            let lineEnd =
                memchr(base + offset, Int32(FileListFormat.newline), end - offset).map {
                    UnsafeRawPointer($0) - UnsafeRawPointer(base)
                } ?? end
            let line = UnsafeBufferPointer(start: base + offset, count: lineEnd - offset)
            let lineNumber = number
            var view = try parseEntry(line) { FileListError(line: lineNumber, problem: $0) }
            view.pathOffset = view.path.baseAddress! - base
            visit(view)
            offset = lineEnd + 1
        }
        return (false, offset, number)
    }

    /// `[Version]`, the version, the empty line and `[Files]`: the version.
    static func readHeader(_ lines: inout some ListLines) throws(FileListError) -> Int {
        let number = lines.number
        func fail(_ problem: FileListError.Problem) -> FileListError {
            FileListError(line: lines.number, problem: problem)
        }
        guard let first = lines.next(), first.elementsEqual(FileListFormat.versionHeader) else {
            throw fail(lines.number == number ? .truncated : .missingVersionHeader)
        }
        guard let versionLine = lines.next() else { throw fail(.truncated) }
        guard let version = parseNumber(versionLine), version <= Int64(Int32.max) else {
            throw fail(.badVersion(text(versionLine)))
        }
        guard (1...Int64(FileListFormat.highestVersion)).contains(version) else {
            throw fail(.unsupportedVersion(Int(version)))
        }
        guard let empty = lines.next() else { throw fail(.truncated) }
        guard empty.isEmpty else { throw fail(.expectedEmptyLine) }
        guard let filesHeader = lines.next() else { throw fail(.truncated) }
        guard filesHeader.elementsEqual(FileListFormat.filesHeader) else { throw fail(.missingFilesHeader) }
        return Int(version)
    }

    /// `[Files]` lines, up to the empty line that ends the section (true) or the end of
    /// `lines` (false: for a whole list, a truncated one). `pathOffset` is left at 0.
    static func readFilesLines(
        _ lines: inout some ListLines, entry visit: (EntryView) -> Void
    ) throws(FileListError) -> Bool {
        while let line = lines.next() {
            if line.isEmpty { return true }
            let number = lines.number
            visit(try parseEntry(line) { FileListError(line: number, problem: $0) })
        }
        return false
    }

    /// What follows the empty line that ends `[Files]`: checksum sections, `[End]`, and
    /// nothing but empty lines after it.
    static func readTrailer(
        _ lines: inout some ListLines
    ) throws(FileListError) -> [ChecksumAlgorithm: [ChecksumLine]] {
        func fail(_ problem: FileListError.Problem) -> FileListError {
            FileListError(line: lines.number, problem: problem)
        }
        var checksums: [ChecksumAlgorithm: [ChecksumLine]] = [:]
        var section = Section.between
        while let line = lines.next() {
            if line.isEmpty {
                section = .between
                continue
            }
            switch section {
            case .checksums(let algorithm):
                checksums[algorithm, default: []].append(try parseChecksum(line, algorithm: algorithm, fail: fail))
            case .between:
                if line.elementsEqual(FileListFormat.endMarker) {
                    while let rest = lines.next() {
                        guard rest.isEmpty else { throw fail(.contentAfterEnd) }
                    }
                    return checksums
                }
                guard let algorithm = checksumSection(line) else { throw fail(.unknownSection(text(line))) }
                checksums[algorithm, default: []] = []
                section = .checksums(algorithm)
            }
        }
        throw fail(.truncated)
    }

    /// One `[Files]` line, checked as strictly as the whole list is.
    static func parseEntry(
        _ line: UnsafeBufferPointer<UInt8>, fail: (FileListError.Problem) -> FileListError
    ) throws(FileListError) -> EntryView {
        // No array per line: this runs a million times for a big list.
        let (tabs, found) = FileListFormat.firstThreeTabs(line)
        guard found == 3 else { throw fail(.wrongFieldCount(found + 1)) }
        let timeField = UnsafeBufferPointer(rebasing: line[0..<tabs.0])
        let typeField = UnsafeBufferPointer(rebasing: line[(tabs.0 + 1)..<tabs.1])
        let sizeField = UnsafeBufferPointer(rebasing: line[(tabs.1 + 1)..<tabs.2])
        let pathField = UnsafeBufferPointer(rebasing: line[(tabs.2 + 1)...])
        guard let time = parseNumber(timeField) else { throw fail(.badTime(text(timeField))) }
        guard let type = parseType(typeField) else { throw fail(.badType(text(typeField))) }
        guard let size = parseNumber(sizeField) else { throw fail(.badSize(text(sizeField))) }
        if let problem = RelativePath.problem(in: pathField) { throw fail(.badPath(problem, text(pathField))) }
        return EntryView(time: time, type: type, size: size, path: pathField, pathOffset: 0)
    }

    private static func parseChecksum(
        _ line: UnsafeBufferPointer<UInt8>, algorithm: ChecksumAlgorithm,
        fail: (FileListError.Problem) -> FileListError
    ) throws(FileListError) -> ChecksumLine {
        guard let tab = line.firstIndex(of: FileListFormat.tab), tab == algorithm.hexLength,
            line[..<tab].allSatisfy(isLowerHex)
        else { throw fail(.badChecksumLine(text(line))) }
        let path = UnsafeBufferPointer(rebasing: line[(tab + 1)...])
        if let problem = RelativePath.problem(in: path) { throw fail(.badPath(problem, text(path))) }
        return ChecksumLine(hex: text(UnsafeBufferPointer(rebasing: line[..<tab])), path: Array(path))
    }

    private static func checksumSection(_ line: UnsafeBufferPointer<UInt8>) -> ChecksumAlgorithm? {
        let prefix = FileListFormat.checksumsPrefix
        guard line.count > prefix.count + 1, line.starts(with: prefix), line.last == 0x5D else { return nil }
        let name = text(UnsafeBufferPointer(rebasing: line[prefix.count..<(line.count - 1)]))
        return ChecksumAlgorithm(rawValue: name.lowercased())
    }

    private static func parseType(_ field: UnsafeBufferPointer<UInt8>) -> EntryType? {
        guard (1...2).contains(field.count), let kind = EntryKind(rawValue: field[0]) else { return nil }
        guard field.count == 2 else { return EntryType(kind) }
        guard let access = EntryAccess(rawValue: field[1]), access != .open else { return nil }
        return EntryType(kind, access)
    }

    /// Non-negative decimal digits only: no sign, no spaces, no overflow.
    private static func parseNumber(_ field: UnsafeBufferPointer<UInt8>) -> Int64? {
        guard !field.isEmpty, field.count <= 18 else { return nil }
        var value: Int64 = 0
        for byte in field {
            guard (0x30...0x39).contains(byte) else { return nil }
            value = value * 10 + Int64(byte - 0x30)
        }
        return value
    }

    private static func isLowerHex(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x61...0x66).contains(byte)
    }

    private static func text(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        String(decoding: bytes.prefix(200), as: UTF8.self)
    }
}

#if canImport(Glibc)
    import Glibc
#endif

extension FileListFormat {
    /// The positions of a `[Files]` line's first three TABs, and how many there were.
    /// Three TABs split the line; the path may hold further TABs only in theory (names
    /// with a TAB are never written), so it takes the rest. The first three fields are a
    /// few bytes each: a plain loop beats memchr's call, a million times per big list.
    @inline(__always)
    static func firstThreeTabs(_ line: UnsafeBufferPointer<UInt8>) -> (tabs: (Int, Int, Int), found: Int) {
        var tabs = (0, 0, 0)
        var found = 0
        var position = 0
        while found < 3 && position < line.count {
            if line[position] == tab {
                switch found {
                case 0: tabs.0 = position
                case 1: tabs.1 = position
                default: tabs.2 = position
                }
                found += 1
            }
            position += 1
        }
        return (tabs, found)
    }
}
