#if canImport(Glibc)
    import Glibc
#endif

/// What turns one published list into the next, byte for byte: so that a downstream
/// client holding generation N downloads what changed instead of the whole list.
///
/// The `[Files]` section changes by edits keyed by path, in `FileListOrder`: add a line,
/// change a path's line, remove a path. Add and change are kept apart so that applying
/// to the wrong list fails early (a change of a path that is not there), and so that two
/// deltas compose exactly (an add then a remove cancels; a change then a remove is a
/// removal). The rest of a list (the header up to `[Files]`, and everything from the
/// empty line that ends `[Files]`: checksums and `[End]`) is small and carried whole
/// when it changed.
///
/// Both lists must be in canonical order: making and applying are one merge walk each,
/// with no sorting and no table of a million paths. A list in another order (the
/// reference generator's directory-read order) gets no delta; clients fetch it whole.
public struct FileListDelta: Sendable, Equatable {
    /// Identifies the list the delta applies to (a digest given by the caller).
    public let base: String
    /// Identifies the list the delta makes.
    public let result: String
    /// The number of `[Files]` edits: a server may decide a delta is not worth keeping.
    public let editCount: Int
    /// The edits as they are encoded, one line each (`+`, `~` or `-`, a TAB, the list
    /// line or the path, `\n`), in canonical order of their paths: a million edits are
    /// one buffer rather than a million arrays, and encoding them is a copy.
    let edits: [UInt8]
    /// The new list's bytes before the first `[Files]` line; nil when unchanged.
    let head: [UInt8]?
    /// The new list's bytes from the empty line that ends `[Files]`; nil when unchanged.
    let tail: [UInt8]?

    init(base: String, result: String, editCount: Int, edits: [UInt8], head: [UInt8]?, tail: [UInt8]?) {
        self.base = base
        self.result = result
        self.editCount = editCount
        self.edits = edits
        self.head = head
        self.tail = tail
    }

    /// The delta from `old` to `new`, two complete lists. `base` and `result` name them
    /// in the encoding and in errors: printable ASCII without spaces, at most 256 bytes.
    public static func make(
        from old: [UInt8], to new: [UInt8], base: String, result: String
    ) throws(FileListDeltaError) -> FileListDelta {
        for identifier in [base, result] where !isIdentifier(identifier) {
            throw FileListDeltaError(problem: .badIdentifier(identifier))
        }
        let outcome = old.withUnsafeBufferPointer { old in
            new.withUnsafeBufferPointer { new in
                Result { () throws(FileListDeltaError) in try make(old, new, base: base, result: result) }
            }
        }
        return try outcome.get()
    }

    /// The new list, from the old one. Refuses an old list that is malformed or not in
    /// canonical order, and one that cannot be the base (an edit adds a path it has, or
    /// changes or removes one it lacks). The caller still checks the result's digest.
    public func applied(to old: [UInt8]) throws(FileListDeltaError) -> [UInt8] {
        let outcome = old.withUnsafeBufferPointer { old in
            edits.withUnsafeBufferPointer { edits in
                Result { () throws(FileListDeltaError) in try apply(edits, to: old) }
            }
        }
        return try outcome.get()
    }

    /// This delta, then `next`: one delta from `base` to `next.result`. Later edits win.
    public func followed(by next: FileListDelta) throws(FileListDeltaError) -> FileListDelta {
        guard result == next.base else {
            throw FileListDeltaError(problem: .notConsecutive(result: result, nextBase: next.base))
        }
        let outcome = edits.withUnsafeBufferPointer { first in
            next.edits.withUnsafeBufferPointer { second in
                Result { () throws(FileListDeltaError) in try compose(first, second, next: next) }
            }
        }
        let (merged, count) = try outcome.get()
        return FileListDelta(
            base: base, result: next.result, editCount: count, edits: merged, head: next.head ?? head,
            tail: next.tail ?? tail)
    }

    private static func make(
        _ old: UnsafeBufferPointer<UInt8>, _ new: UnsafeBufferPointer<UInt8>, base: String, result: String
    ) throws(FileListDeltaError) -> FileListDelta {
        var oldLines = try FilesLineCursor(old, source: "old list \(base)")
        var newLines = try FilesLineCursor(new, source: "new list \(result)")
        var edits: [UInt8] = []
        var count = 0
        func append(_ kind: EditKind, _ content: UnsafeBufferPointer<UInt8>) {
            edits.append(kind.rawValue)
            edits.append(FileListFormat.tab)
            edits.append(contentsOf: content)
            edits.append(FileListFormat.newline)
            count += 1
        }
        var oldLine = try oldLines.next()
        var newLine = try newLines.next()
        while true {
            switch (oldLine, newLine) {
            case (nil, nil):
                let oldHead = UnsafeBufferPointer(rebasing: old[..<oldLines.headEnd])
                let newHead = UnsafeBufferPointer(rebasing: new[..<newLines.headEnd])
                let oldTail = UnsafeBufferPointer(rebasing: old[oldLines.offset...])
                let newTail = UnsafeBufferPointer(rebasing: new[newLines.offset...])
                return FileListDelta(
                    base: base, result: result, editCount: count, edits: edits,
                    head: sameBytes(oldHead, newHead) ? nil : Array(newHead),
                    tail: sameBytes(oldTail, newTail) ? nil : Array(newTail))
            case (let removed?, nil):
                append(.remove, removed.path)
                oldLine = try oldLines.next()
            case (nil, let added?):
                append(.add, added.bytes)
                newLine = try newLines.next()
            case (let o?, let n?):
                // Most lines are the same: one memcmp, no path comparison, and the new
                // list's copy of a checked old line needs no checks of its own.
                if sameBytes(o.bytes, n.bytes) {
                    oldLine = try oldLines.next()
                    if let twin = oldLine, let copy = newLines.next(copying: twin) {
                        newLine = copy
                    } else {
                        newLine = try newLines.next()
                    }
                    continue
                }
                let order = FileListOrder.compare(o.path, nameStart: o.nameStart, n.path, nameStart: n.nameStart)
                if order <= 0 {
                    if order < 0 { append(.remove, o.path) } else { append(.change, n.bytes) }
                    oldLine = try oldLines.next()
                }
                if order >= 0 {
                    if order > 0 { append(.add, n.bytes) }
                    newLine = try newLines.next()
                }
            }
        }
    }

    private func apply(
        _ edits: UnsafeBufferPointer<UInt8>, to old: UnsafeBufferPointer<UInt8>
    ) throws(FileListDeltaError) -> [UInt8] {
        var oldLines = try FilesLineCursor(old, source: "old list \(base)")
        var out: [UInt8] = []
        out.reserveCapacity(old.count + edits.count)
        if let head {
            out.append(contentsOf: head)
        } else {
            out.append(contentsOf: UnsafeBufferPointer(rebasing: old[..<oldLines.headEnd]))
        }
        // Old lines up to the next edit are copied in one piece, from `copied`.
        var copied = oldLines.headEnd
        var oldLine = try oldLines.next()
        var cursor = EditCursor(edits)
        while let edit = cursor.next() {
            let editName = FileListOrder.nameStart(of: edit.path)
            var present = false
            while let line = oldLine {
                let order = FileListOrder.compare(line.path, nameStart: line.nameStart, edit.path, nameStart: editName)
                if order < 0 {
                    oldLine = try oldLines.next()
                    continue
                }
                present = order == 0
                break
            }
            let next = oldLine?.start ?? oldLines.offset
            out.append(contentsOf: UnsafeBufferPointer(rebasing: old[copied..<next]))
            copied = next
            switch edit.kind {
            case .add:
                guard !present else { throw editError(.alreadyInOldList(printable(edit.path)), edit: cursor.index) }
            case .change, .remove:
                guard present else { throw editError(.notInOldList(printable(edit.path)), edit: cursor.index) }
                oldLine = try oldLines.next()
                copied = oldLine?.start ?? oldLines.offset
            }
            if edit.kind != .remove {
                out.append(contentsOf: edit.content)
                out.append(FileListFormat.newline)
            }
        }
        // The rest of the old lines, checked on the way.
        while oldLine != nil { oldLine = try oldLines.next() }
        out.append(contentsOf: UnsafeBufferPointer(rebasing: old[copied..<oldLines.offset]))
        if let tail {
            out.append(contentsOf: tail)
        } else {
            out.append(contentsOf: UnsafeBufferPointer(rebasing: old[oldLines.offset...]))
        }
        return out
    }

    private func compose(
        _ first: UnsafeBufferPointer<UInt8>, _ second: UnsafeBufferPointer<UInt8>, next: FileListDelta
    ) throws(FileListDeltaError) -> (edits: [UInt8], count: Int) {
        var merged: [UInt8] = []
        merged.reserveCapacity(first.count + second.count)
        var count = 0
        func append(_ kind: EditKind, _ content: UnsafeBufferPointer<UInt8>) {
            merged.append(kind.rawValue)
            merged.append(FileListFormat.tab)
            merged.append(contentsOf: content)
            merged.append(FileListFormat.newline)
            count += 1
        }
        var earlierCursor = EditCursor(first)
        var laterCursor = EditCursor(second)
        var earlier = earlierCursor.next()
        var later = laterCursor.next()
        while true {
            switch (earlier, later) {
            case (nil, nil):
                return (merged, count)
            case (let a?, nil):
                append(a.kind, a.content)
                earlier = earlierCursor.next()
            case (nil, let b?):
                append(b.kind, b.content)
                later = laterCursor.next()
            case (let a?, let b?):
                let order = FileListOrder.compare(a.path, b.path)
                if order < 0 {
                    append(a.kind, a.content)
                    earlier = earlierCursor.next()
                    continue
                }
                if order > 0 {
                    append(b.kind, b.content)
                    later = laterCursor.next()
                    continue
                }
                switch (a.kind, b.kind) {
                case (.add, .change): append(.add, b.content)
                case (.add, .remove): break
                case (.change, .change), (.remove, .add): append(.change, b.content)
                case (.change, .remove): append(.remove, b.content)
                case (.add, .add), (.change, .add), (.remove, .change), (.remove, .remove):
                    throw next.editError(.conflictingEdit(printable(b.path)), edit: laterCursor.index)
                }
                earlier = earlierCursor.next()
                later = laterCursor.next()
            }
        }
    }

    /// An error about an edit, at the edit's line in this delta's encoding.
    func editError(_ problem: FileListDeltaError.Problem, edit index: Int) -> FileListDeltaError {
        FileListDeltaError(source: "delta \(base) -> \(result)", line: firstEditLine + index, problem: problem)
    }
}

/// Why a delta could not be made, applied, composed or decoded.
public struct FileListDeltaError: Error, Equatable, CustomStringConvertible {
    public enum Problem: Sendable, Equatable, CustomStringConvertible {
        /// A list, or a list line carried in a delta, failed the strict list reader.
        case list(FileListError.Problem)
        case notInOrder(path: String, previous: String)
        case duplicatePath(String)
        case alreadyInOldList(String)
        case notInOldList(String)
        case conflictingEdit(String)
        case notConsecutive(result: String, nextBase: String)
        case badIdentifier(String)
        case notADelta
        case unsupportedVersion(String)
        case expectedLine(String, found: String)
        case badEdit(String)
        case badPart(String)
        case truncated
        case contentAfterEnd

        public var description: String {
            switch self {
            case .list(let problem): "\(problem)"
            case .notInOrder(let path, let previous):
                "'\(path)' comes after '\(previous)': [Files] is not in canonical order (parent, then name)"
            case .duplicatePath(let path): "'\(path)' is listed twice"
            case .alreadyInOldList(let path): "adds '\(path)', which the old list already has: it is not the base"
            case .notInOldList(let path): "edits '\(path)', which the old list does not have: it is not the base"
            case .conflictingEdit(let path): "the edit of '\(path)' contradicts the previous delta's edit of it"
            case .notConsecutive(let result, let nextBase):
                "the next delta starts from '\(nextBase)', not from this delta's result '\(result)'"
            case .badIdentifier(let text):
                "list identifier '\(text)' must be 1 to 256 printable ASCII characters without spaces"
            case .notADelta: "expected '\(FileListDelta.magic)' and a TAB as the first line"
            case .unsupportedVersion(let text):
                "delta format version '\(text)' is not supported (this reader reads \(FileListDelta.formatVersion))"
            case .expectedLine(let expected, let found): "expected \(expected), found '\(found)'"
            case .badEdit(let text):
                "expected an edit ('+', '~' or '-', a TAB, then a [Files] line or a path), found '\(text)'"
            case .badPart(let reason): reason
            case .truncated: "delta is truncated: it ends before its 'end' line"
            case .contentAfterEnd: "content after 'end'"
            }
        }
    }

    /// The list or delta the error is about.
    public var source: String?
    /// 1-based line number, when the error is about a line.
    public var line: Int?
    public var problem: Problem

    public init(source: String? = nil, line: Int? = nil, problem: Problem) {
        self.source = source
        self.line = line
        self.problem = problem
    }

    init(_ error: FileListError) {
        self.init(source: error.source, line: error.line, problem: .list(error.problem))
    }

    public var description: String {
        let location = [source, line.map { "line \($0)" }].compactMap { $0 }.joined(separator: ": ")
        return location.isEmpty ? "\(problem)" : "\(location): \(problem)"
    }
}

/// The kind of a `[Files]` edit: the byte that starts its line.
enum EditKind: UInt8 {
    case add = 0x2B  // "+"
    case change = 0x7E  // "~"
    case remove = 0x2D  // "-"
}

/// One stored edit, pointing into the delta's buffer.
struct Edit {
    var kind: EditKind
    /// The `[Files]` line (add, change) or the path (remove).
    var content: UnsafeBufferPointer<UInt8>
    var path: UnsafeBufferPointer<UInt8>
}

/// Walks stored edits, which were checked when they were made or decoded.
struct EditCursor {
    let buffer: UnsafeBufferPointer<UInt8>
    var offset = 0
    /// The index of the edit last returned.
    private(set) var index = -1

    init(_ buffer: UnsafeBufferPointer<UInt8>) { self.buffer = buffer }

    mutating func next() -> Edit? {
        guard offset < buffer.count, let kind = EditKind(rawValue: buffer[offset]) else { return nil }
        let start = offset + 2
        let end = nextNewline(in: buffer, from: start)
        offset = end + 1
        index += 1
        let content = UnsafeBufferPointer(rebasing: buffer[start..<end])
        return Edit(kind: kind, content: content, path: kind == .remove ? content : pathField(of: content))
    }
}

/// The path of a checked `[Files]` line: everything after the third TAB, as the reader takes it.
func pathField(of line: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
    var tabs = 0
    for index in line.indices where line[index] == FileListFormat.tab {
        tabs += 1
        if tabs == 3 { return UnsafeBufferPointer(rebasing: line[(index + 1)...]) }
    }
    return UnsafeBufferPointer(rebasing: line[line.count...])
}

/// The index of the next `\n` at or after `start`, or the buffer's end.
func nextNewline(in buffer: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
    guard start < buffer.count, let found = memchr(buffer.baseAddress! + start, 0x0A, buffer.count - start) else {
        return buffer.count
    }
    return UnsafeRawPointer(found) - UnsafeRawPointer(buffer.baseAddress!)
}

func sameBytes(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
    a.count == b.count && (a.isEmpty || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0)
}

/// A path or line for messages.
func printable(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
    String(decoding: bytes.prefix(200), as: UTF8.self)
}
