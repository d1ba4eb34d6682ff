#if canImport(Glibc)
    import Glibc
#endif

/// Walks a list's `[Files]` lines in place, one at a time, refusing what
/// `FileListReader` refuses (with the same problem and line) and, as well, a path that
/// does not come after the one before in `FileListOrder`.
///
/// A delta merges two such walks. `FileListReader.read` takes a callback, and 0.16 s
/// for a Fedora-sized list (measured: it checks paths with a `memchr` per component), so
/// a delta between two lists took 0.5 s; here a path is checked eight bytes at a time,
/// and only a line that fails that check goes to `RelativePath` for the verdict and its
/// reason, so the reader's rules stay the authority (tests compare the two on damaged
/// lists). The head and tail go through the reader itself: they are small.
struct FilesLineCursor {
    struct Line {
        /// Where the line starts in the list's bytes.
        var start: Int
        /// The line without its `\n`.
        var bytes: UnsafeBufferPointer<UInt8>
        var path: UnsafeBufferPointer<UInt8>
        /// Where the name starts in `path`: just after the last '/', or 0.
        var nameStart: Int
    }

    let buffer: UnsafeBufferPointer<UInt8>
    let source: String
    /// Where the first `[Files]` line starts, just after `[Files]\n`.
    let headEnd: Int
    /// Where the next line starts; once the walk is over, where the tail starts (the
    /// empty line that ends `[Files]`).
    private(set) var offset: Int
    /// Lines returned so far.
    private(set) var count = 0
    private var previous: Line?
    private var finished = false

    /// Checks the header (lines 1 to 4) with the reader.
    init(_ buffer: UnsafeBufferPointer<UInt8>, source: String) throws(FileListDeltaError) {
        self.buffer = buffer
        self.source = source
        var end = 0
        for _ in 0..<4 {
            let newline = nextNewline(in: buffer, from: end)
            guard newline < buffer.count else { throw Self.readerError(buffer, source: source) }
            end = newline + 1
        }
        headEnd = end
        offset = end
        do throws(FileListError) {
            _ = try FileListReader.parse(Array(buffer[..<end]) + Array("\n[End]\n".utf8), source: source)
        } catch {
            throw FileListDeltaError(error)
        }
    }

    /// The next `[Files]` line, or nil at the empty line that ends the section, once the
    /// rest of the list has passed the reader.
    mutating func next() throws(FileListDeltaError) -> Line? {
        guard !finished else { return nil }
        let lineNumber = 5 + count
        guard offset < buffer.count else { throw fail(lineNumber - 1, .truncated) }
        let end = nextNewline(in: buffer, from: offset)
        if end == offset {
            finished = true
            try checkTail()
            return nil
        }
        let bytes = UnsafeBufferPointer(rebasing: buffer[offset..<end])
        var line = Line(start: offset, bytes: bytes, path: UnsafeBufferPointer(rebasing: bytes[0..<0]), nameStart: 0)
        if let problem = Self.entryProblem(bytes, path: &line.path, nameStart: &line.nameStart) {
            throw fail(lineNumber, .list(problem))
        }
        if end == buffer.count { throw fail(lineNumber, .truncated) }
        if let previous {
            let order = FileListOrder.compare(
                previous.path, nameStart: previous.nameStart, line.path, nameStart: line.nameStart)
            if order >= 0 {
                throw fail(
                    lineNumber,
                    order == 0
                        ? .duplicatePath(printable(line.path))
                        : .notInOrder(path: printable(line.path), previous: printable(previous.path)))
            }
        }
        previous = line
        offset = end + 1
        count += 1
        return line
    }

    /// The next line, without the checks, when it is byte for byte `twin`: the line of
    /// another list that passed them right after a line identical to this cursor's last
    /// one. Then they would pass here too. Nil, with nothing read, when the bytes differ.
    mutating func next(copying twin: Line) -> Line? {
        let length = twin.bytes.count
        guard !finished, length < buffer.count - offset, buffer[offset + length] == FileListFormat.newline,
            memcmp(buffer.baseAddress! + offset, twin.bytes.baseAddress!, length) == 0
        else { return nil }
        let pathStart = offset + (twin.path.baseAddress! - twin.bytes.baseAddress!)
        let line = Line(
            start: offset, bytes: UnsafeBufferPointer(rebasing: buffer[offset..<(offset + length)]),
            path: UnsafeBufferPointer(rebasing: buffer[pathStart..<(offset + length)]), nameStart: twin.nameStart)
        previous = line
        offset += length + 1
        count += 1
        return line
    }

    /// The header and the tail together make a list with no entries: the reader checks
    /// the tail's sections, checksum lines and `[End]`.
    private func checkTail() throws(FileListDeltaError) {
        let list = Array(buffer[..<headEnd]) + Array(buffer[offset...])
        do throws(FileListError) {
            _ = try FileListReader.parse(list, source: source)
        } catch {
            var shifted = FileListDeltaError(error)
            // The tail's lines come after this list's [Files] lines.
            shifted.line = error.line > 4 ? error.line + count : error.line
            throw shifted
        }
    }

    private func fail(_ line: Int, _ problem: FileListDeltaError.Problem) -> FileListDeltaError {
        FileListDeltaError(source: source, line: line, problem: problem)
    }

    /// For a list this cursor could not even split into a header: the reader's reason.
    private static func readerError(_ buffer: UnsafeBufferPointer<UInt8>, source: String) -> FileListDeltaError {
        do throws(FileListError) {
            _ = try FileListReader.read(buffer, source: source) { _ in }
        } catch {
            return FileListDeltaError(error)
        }
        return FileListDeltaError(source: source, line: 4, problem: .list(.truncated))
    }

    /// What the reader would refuse in a `[Files]` line, checked in the reader's order;
    /// nil when it passes, with `path` and `nameStart` set.
    static func entryProblem(
        _ line: UnsafeBufferPointer<UInt8>, path: inout UnsafeBufferPointer<UInt8>, nameStart: inout Int
    ) -> FileListError.Problem? {
        let (tabs, found) = FileListFormat.firstThreeTabs(line)
        guard found == 3 else { return .wrongFieldCount(found + 1) }
        let time = UnsafeBufferPointer(rebasing: line[0..<tabs.0])
        let type = UnsafeBufferPointer(rebasing: line[(tabs.0 + 1)..<tabs.1])
        let size = UnsafeBufferPointer(rebasing: line[(tabs.1 + 1)..<tabs.2])
        path = UnsafeBufferPointer(rebasing: line[(tabs.2 + 1)...])
        guard isNumber(time) else { return .badTime(printable(time)) }
        guard isType(type) else { return .badType(printable(type)) }
        guard isNumber(size) else { return .badSize(printable(size)) }
        if let start = plainPathNameStart(path) {
            nameStart = start
            return nil
        }
        if let problem = RelativePath.problem(in: path) { return .badPath(problem, printable(path)) }
        nameStart = FileListOrder.nameStart(of: path)
        return nil
    }

    /// The reader's numbers: 1 to 18 decimal digits, no sign.
    private static func isNumber(_ field: UnsafeBufferPointer<UInt8>) -> Bool {
        (1...18).contains(field.count) && field.allSatisfy { (0x30...0x39).contains($0) }
    }

    /// `f`, `d` or `l`, then optionally `-` or `*`.
    private static func isType(_ field: UnsafeBufferPointer<UInt8>) -> Bool {
        guard (1...2).contains(field.count), EntryKind(rawValue: field[0]) != nil else { return false }
        return field.count == 1 || field[1] == EntryAccess.notWorldReadable.rawValue
            || field[1] == EntryAccess.restrictedSubtree.rawValue
    }

    /// For a path `RelativePath` accepts, where its name starts (just after the last
    /// '/'); nil when in doubt. Eight bytes at a time: only '/' and NUL bytes, found by
    /// the zero-byte trick, are looked at one by one.
    private static func plainPathNameStart(_ path: UnsafeBufferPointer<UInt8>) -> Int? {
        let count = path.count
        guard (1...4096).contains(count), path[0] != slash else { return nil }
        let raw = UnsafeRawPointer(path.baseAddress!)
        var componentStart = 0
        var index = 0
        while index + 8 <= count {
            let word = raw.loadUnaligned(fromByteOffset: index, as: UInt64.self).littleEndian
            // A flag for every '/' and NUL byte, and sometimes for the byte above one.
            var flags = zeroBytes(word ^ 0x2F2F_2F2F_2F2F_2F2F) | zeroBytes(word)
            while flags != 0 {
                let position = index + flags.trailingZeroBitCount / 8
                flags &= flags - 1
                switch path[position] {
                case 0: return nil
                case slash:
                    guard isPlainComponent(path, componentStart, position) else { return nil }
                    componentStart = position + 1
                default: continue
                }
            }
            index += 8
        }
        while index < count {
            switch path[index] {
            case 0: return nil
            case slash:
                guard isPlainComponent(path, componentStart, index) else { return nil }
                componentStart = index + 1
            default: break
            }
            index += 1
        }
        return isPlainComponent(path, componentStart, count) ? componentStart : nil
    }

    /// The high bit of each zero byte set (and perhaps of a 0x01 byte just above one).
    private static func zeroBytes(_ word: UInt64) -> UInt64 {
        (word &- 0x0101_0101_0101_0101) & ~word & 0x8080_8080_8080_8080
    }

    /// Not empty, not `.`, not `..`.
    private static func isPlainComponent(_ path: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Bool {
        switch end - start {
        case 0: false
        case 1: path[start] != dot
        case 2: path[start] != dot || path[start + 1] != dot
        default: true
        }
    }

    private static let slash: UInt8 = 0x2F
    private static let dot: UInt8 = 0x2E
}
