/// The text form of a delta, what `GET /changes` serves:
///
/// ```
/// quickmirror-filelist-delta<TAB>1
/// base<TAB><identifier of the old list>
/// result<TAB><identifier of the new list>
/// head<TAB>same                      (or head<TAB><byte count>, the bytes, '\n')
/// edits<TAB><count>
/// +<TAB><[Files] line>               an added path
/// ~<TAB><[Files] line>               a path whose line changed
/// -<TAB><path>                       a removed path
/// tail<TAB>same                      (or tail<TAB><byte count>, the bytes, '\n')
/// end
/// ```
///
/// Edits come in canonical order of their paths. The head is the new list up to and
/// including `[Files]`; the tail is the new list from the empty line that ends `[Files]`.
/// They go by byte count so that they come back byte for byte, a missing final newline
/// included. Every line ends in `\n`, and `end` is last: a cut anywhere is detected.
extension FileListDelta {
    static let magic = "quickmirror-filelist-delta"
    static let formatVersion = "1"

    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(encodedByteCount)
        for line in [Self.magic + "\t" + Self.formatVersion, "base\t" + base, "result\t" + result] {
            out.append(contentsOf: line.utf8)
            out.append(FileListFormat.newline)
        }
        Self.appendPart("head", head, to: &out)
        out.append(contentsOf: "edits\t\(editCount)".utf8)
        out.append(FileListFormat.newline)
        out.append(contentsOf: edits)
        Self.appendPart("tail", tail, to: &out)
        out.append(contentsOf: "end".utf8)
        out.append(FileListFormat.newline)
        return out
    }

    /// The size of `encoded()`, without encoding.
    public var encodedByteCount: Int {
        let header =
            Self.magic.utf8.count + 1 + Self.formatVersion.utf8.count + 1 + 5 + base.utf8.count + 1 + 7
            + result.utf8.count + 1
        return header + Self.partByteCount("head", head) + "edits\t\(editCount)".utf8.count + 1 + edits.count
            + Self.partByteCount("tail", tail) + 4
    }

    /// Reads `encoded()`'s form strictly: every edit's path passes `RelativePath`'s checks,
    /// every `[Files]` line the list reader's, the head and tail must make a valid list,
    /// and edits must be in canonical order. Errors name `source` and the line.
    public init(decoding bytes: [UInt8], source: String? = nil) throws(FileListDeltaError) {
        let outcome = bytes.withUnsafeBufferPointer { buffer in
            Result { () throws(FileListDeltaError) in try Self.decode(buffer) }
        }
        do throws(FileListDeltaError) {
            self = try outcome.get()
        } catch {
            var located = error
            located.source = source
            throw located
        }
    }

    /// The line of the first edit in the encoding: after three header lines, the head
    /// part and the `edits` line.
    var firstEditLine: Int {
        let headLines = head.map { 2 + $0.count(where: { $0 == FileListFormat.newline }) } ?? 1
        return 3 + headLines + 2
    }

    static func isIdentifier(_ identifier: String) -> Bool {
        (1...256).contains(identifier.utf8.count) && identifier.utf8.allSatisfy { (0x21...0x7E).contains($0) }
    }

    private static func appendPart(_ name: String, _ part: [UInt8]?, to out: inout [UInt8]) {
        out.append(contentsOf: partHeader(name, part).utf8)
        out.append(FileListFormat.newline)
        guard let part else { return }
        out.append(contentsOf: part)
        out.append(FileListFormat.newline)
    }

    private static func partByteCount(_ name: String, _ part: [UInt8]?) -> Int {
        partHeader(name, part).utf8.count + 1 + (part.map { $0.count + 1 } ?? 0)
    }

    private static func partHeader(_ name: String, _ part: [UInt8]?) -> String {
        "\(name)\t" + (part.map { String($0.count) } ?? "same")
    }

    private static func decode(_ bytes: UnsafeBufferPointer<UInt8>) throws(FileListDeltaError) -> FileListDelta {
        var lines = DeltaLines(bytes)
        func fail(_ problem: FileListDeltaError.Problem) -> FileListDeltaError {
            FileListDeltaError(line: lines.number, problem: problem)
        }
        /// A `name<TAB>value` line's value.
        func field(_ name: String) throws(FileListDeltaError) -> UnsafeBufferPointer<UInt8> {
            let line = try lines.next()
            let prefix = Array(name.utf8) + [FileListFormat.tab]
            guard line.starts(with: prefix) else {
                throw fail(.expectedLine("'\(name)', a TAB and a value", found: printable(line)))
            }
            return UnsafeBufferPointer(rebasing: line[prefix.count...])
        }
        func identifier(_ name: String) throws(FileListDeltaError) -> String {
            let value = printable(try field(name))
            guard isIdentifier(value) else { throw fail(.badIdentifier(value)) }
            return value
        }
        func part(_ name: String) throws(FileListDeltaError) -> [UInt8]? {
            let value = try field(name)
            if value.elementsEqual("same".utf8) { return nil }
            guard let length = number(value) else {
                throw fail(
                    .expectedLine("'\(name)', a TAB and 'same' or a byte count", found: "\(name)\t\(printable(value))"))
            }
            let firstLine = lines.number + 1
            let block = try lines.block(length)
            try validatePart(name, block, firstLine: firstLine)
            return Array(block)
        }

        let first = try lines.next()
        let magicField = Array(magic.utf8) + [FileListFormat.tab]
        guard first.starts(with: magicField) else { throw fail(.notADelta) }
        let version = UnsafeBufferPointer(rebasing: first[magicField.count...])
        guard version.elementsEqual(formatVersion.utf8) else { throw fail(.unsupportedVersion(printable(version))) }
        let base = try identifier("base")
        let result = try identifier("result")
        let head = try part("head")
        let countField = try field("edits")
        guard let declared = number(countField) else {
            throw fail(.expectedLine("'edits', a TAB and a count", found: "edits\t\(printable(countField))"))
        }

        // Lines to add or change are gathered into one list and read by the list reader
        // in one pass; `batchLines` maps its line numbers back to the delta's.
        let editsStart = lines.offset
        let firstEditLine = lines.number + 1
        var batch = Array("[Version]\n\(FileListFormat.highestVersion)\n\n[Files]\n".utf8)
        var batchLines: [Int] = []
        for _ in 0..<declared {
            let line = try lines.next()
            guard line.count >= 2, let kind = EditKind(rawValue: line[0]), line[1] == FileListFormat.tab else {
                throw fail(.badEdit(printable(line)))
            }
            let content = UnsafeBufferPointer(rebasing: line[2...])
            if kind == .remove {
                if let problem = RelativePath.problem(in: content) {
                    throw fail(.list(.badPath(problem, printable(content))))
                }
                continue
            }
            // An empty line would end the batch's [Files] section.
            guard !content.isEmpty else { throw fail(.list(.wrongFieldCount(1))) }
            batch.append(contentsOf: content)
            batch.append(FileListFormat.newline)
            batchLines.append(lines.number)
        }
        let editsEnd = lines.offset
        let tail = try part("tail")
        let end = try lines.next()
        guard end.elementsEqual("end".utf8) else { throw fail(.expectedLine("'end'", found: printable(end))) }
        guard lines.offset == bytes.count else {
            throw FileListDeltaError(line: lines.number + 1, problem: .contentAfterEnd)
        }

        batch.append(contentsOf: "\n[End]\n".utf8)
        let checked = batch.withUnsafeBufferPointer { buffer in
            Result { () throws(FileListError) in _ = try FileListReader.read(buffer) { _ in } }
        }
        do throws(FileListError) {
            try checked.get()
        } catch {
            let index = error.line - 5
            throw FileListDeltaError(
                line: batchLines.indices.contains(index) ? batchLines[index] : nil, problem: .list(error.problem))
        }

        let edits = UnsafeBufferPointer(rebasing: bytes[editsStart..<editsEnd])
        var cursor = EditCursor(edits)
        var previous = cursor.next()
        while let edit = cursor.next() {
            let order = FileListOrder.compare(previous!.path, edit.path)
            if order >= 0 {
                throw FileListDeltaError(
                    line: firstEditLine + cursor.index,
                    problem: order == 0
                        ? .duplicatePath(printable(edit.path))
                        : .notInOrder(path: printable(edit.path), previous: printable(previous!.path)))
            }
            previous = edit
        }
        return FileListDelta(
            base: base, result: result, editCount: declared, edits: Array(edits), head: head, tail: tail)
    }

    /// A head must be the four lines `[Version]` to `[Files]`, a tail must start with the
    /// empty line that ends `[Files]`, and each must make a valid list with a plain other
    /// half: then any list they are put together with stays valid.
    private static func validatePart(
        _ name: String, _ block: UnsafeBufferPointer<UInt8>, firstLine: Int
    ) throws(FileListDeltaError) {
        let newlines = block.count(where: { $0 == FileListFormat.newline })
        let list: [UInt8]
        let lineOffset: Int
        if name == "head" {
            guard newlines == 4 && block.last == FileListFormat.newline else {
                throw FileListDeltaError(
                    line: firstLine, problem: .badPart("the head must be the 4 lines from '[Version]' to '[Files]'"))
            }
            list = Array(block) + Array("\n[End]\n".utf8)
            lineOffset = firstLine - 1
        } else {
            guard block.first == FileListFormat.newline else {
                throw FileListDeltaError(
                    line: firstLine, problem: .badPart("the tail must start with the empty line that ends [Files]"))
            }
            list = Array("[Version]\n2\n\n[Files]\n".utf8) + Array(block)
            lineOffset = firstLine - 5
        }
        do throws(FileListError) {
            _ = try FileListReader.parse(list)
        } catch {
            throw FileListDeltaError(line: error.line + lineOffset, problem: .list(error.problem))
        }
    }

    /// A count or a length: decimal digits only.
    private static func number(_ field: UnsafeBufferPointer<UInt8>) -> Int? {
        guard (1...15).contains(field.count), field.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        return field.reduce(0) { $0 * 10 + Int($1 - 0x30) }
    }
}

/// The delta's lines, each of which must end in `\n`; byte blocks for the head and tail.
private struct DeltaLines {
    let buffer: UnsafeBufferPointer<UInt8>
    var offset = 0
    /// The number of the line last returned.
    private(set) var number = 0

    init(_ buffer: UnsafeBufferPointer<UInt8>) { self.buffer = buffer }

    mutating func next() throws(FileListDeltaError) -> UnsafeBufferPointer<UInt8> {
        number += 1
        let end = nextNewline(in: buffer, from: offset)
        guard end < buffer.count else { throw FileListDeltaError(line: number, problem: .truncated) }
        let line = UnsafeBufferPointer(rebasing: buffer[offset..<end])
        offset = end + 1
        return line
    }

    /// `count` bytes and the `\n` after them.
    mutating func block(_ count: Int) throws(FileListDeltaError) -> UnsafeBufferPointer<UInt8> {
        guard count < buffer.count - offset else { throw FileListDeltaError(line: number + 1, problem: .truncated) }
        let block = UnsafeBufferPointer(rebasing: buffer[offset..<(offset + count)])
        // The block's lines and the one its separating '\n' ends.
        let lastLine = number + block.count(where: { $0 == FileListFormat.newline }) + 1
        guard buffer[offset + count] == FileListFormat.newline else {
            throw FileListDeltaError(
                line: lastLine, problem: .badPart("the byte count does not end on a line: expected '\\n' after it"))
        }
        number = lastLine
        offset += count + 1
        return block
    }
}
