#if canImport(Glibc)
    import Glibc
#endif

/// A byte range of the old list and what replaces it in the new one.
public struct ListSplice: Sendable, Equatable {
    /// The old bytes replaced (empty for an insertion).
    public var range: Range<Int>
    public var bytes: [UInt8]

    public init(range: Range<Int>, bytes: [UInt8]) {
        self.range = range
        self.bytes = bytes
    }
}

/// Where a list's `[Files]` lines are: from the first line after `[Files]` to the empty
/// line that ends the section.
public struct FilesSection: Sendable, Equatable {
    public var start: Int
    /// The offset of the empty line (its `\n`).
    public var end: Int

    public init(start: Int, end: Int) {
        self.start = start
        self.end = end
    }

    /// Finds the section in a whole list: the head is read forward (a few lines), the
    /// section's end backward from the list's end, over the checksums (a few hundred
    /// lines, none with three TABs) to the last `[Files]` line.
    public static func locate(in list: UnsafeBufferPointer<UInt8>) -> FilesSection? {
        let marker = Array("\n[Files]\n".utf8)
        var start = -1
        var index = 0
        // The header is `[Version]`, the number and an empty line: within a few dozen bytes.
        while index + marker.count <= min(list.count, 4096) {
            if list[index] == 0x0A
                && marker.withUnsafeBufferPointer({ memcmp(list.baseAddress! + index, $0.baseAddress!, $0.count) == 0 })
            {
                start = index + marker.count
                break
            }
            index += 1
        }
        guard start >= 0 else { return nil }
        // Backward: each line from the end until one with three TABs (a [Files] line), or
        // the section's start; the empty line after it ends the section.
        var lineEnd = list.count
        if lineEnd > 0 && list[lineEnd - 1] == 0x0A { lineEnd -= 1 }
        while lineEnd > start {
            var lineStart = lineEnd
            while lineStart > start && list[lineStart - 1] != 0x0A { lineStart -= 1 }
            var tabs = 0
            for byte in UnsafeBufferPointer(rebasing: list[lineStart..<lineEnd]) where byte == 0x09 { tabs += 1 }
            if tabs == 3 {
                // The `\n` ending this line, then the empty line's `\n`.
                guard lineEnd + 1 < list.count, list[lineEnd + 1] == 0x0A else { return nil }
                return FilesSection(start: start, end: lineEnd + 1)
            }
            lineEnd = lineStart - 1
        }
        // No [Files] line at all: the empty line right after the marker.
        guard start < list.count, list[start] == 0x0A else { return nil }
        return FilesSection(start: start, end: start)
    }
}

extension FileListDelta {
    /// The edits as replacements of byte ranges of `old`, in order, found by binary search
    /// in its `[Files]` section: the cost follows the edits, not the list (no pass over its
    /// lines). `old` must be in canonical order (`FileListOrder`), as a filelistd's lists
    /// are; an edit that cannot apply (an add of a path that is there, a change of one that
    /// is not) is refused, as `applied(to:)` refuses it. The head and tail, when the delta
    /// carries them, are splices too.
    public func splices(in old: UnsafeBufferPointer<UInt8>, files: FilesSection) throws(FileListDeltaError)
        -> [ListSplice]
    {
        var splices: [ListSplice] = []
        if let head { splices.append(ListSplice(range: 0..<files.start, bytes: head)) }
        let outcome = edits.withUnsafeBufferPointer { edits in
            Result { () throws(FileListDeltaError) in
                var cursor = EditCursor(edits)
                var low = files.start
                while let edit = cursor.next() {
                    let (position, present) = Self.find(edit.path, in: old, from: low, to: files.end)
                    var range = position..<position
                    switch edit.kind {
                    case .add:
                        guard !present else {
                            throw editError(.alreadyInOldList(printable(edit.path)), edit: cursor.index)
                        }
                    case .change, .remove:
                        guard present else { throw editError(.notInOldList(printable(edit.path)), edit: cursor.index) }
                        range = position..<(nextNewline(in: old, from: position) + 1)
                    }
                    var bytes: [UInt8] = []
                    if edit.kind != .remove {
                        bytes = Array(edit.content)
                        bytes.append(FileListFormat.newline)
                    }
                    // Edits of one place follow each other in order: an add before a line
                    // that is changed lands at the same position.
                    if let last = splices.last, last.range.upperBound == range.lowerBound,
                        last.range.lowerBound >= files.start
                    {
                        splices[splices.count - 1] = ListSplice(
                            range: last.range.lowerBound..<range.upperBound, bytes: last.bytes + bytes)
                    } else {
                        splices.append(ListSplice(range: range, bytes: bytes))
                    }
                    low = range.upperBound
                }
            }
        }
        try outcome.get()
        if let tail { splices.append(ListSplice(range: files.end..<old.count, bytes: tail)) }
        return splices
    }

    /// The first line of `old[from..<to]` (line starts) whose path is not before `path`,
    /// and whether it is `path`.
    static func find(_ path: UnsafeBufferPointer<UInt8>, in old: UnsafeBufferPointer<UInt8>, from: Int, to: Int)
        -> (Int, Bool)
    {
        let pathName = FileListOrder.nameStart(of: path)
        var low = from
        var high = to
        // Invariant: every line starting before `low` is before `path`; the line at
        // `high` (or the section's end) is not.
        while low < high {
            let middle = low + (high - low) / 2
            // The line that holds byte `middle`: back to its start.
            var start = middle
            while start > low && old[start - 1] != FileListFormat.newline { start -= 1 }
            let end = nextNewline(in: old, from: start)
            let linePath = pathField(of: UnsafeBufferPointer(rebasing: old[start..<end]))
            let order = FileListOrder.compare(
                linePath, nameStart: FileListOrder.nameStart(of: linePath), path, nameStart: pathName)
            if order < 0 {
                low = end + 1
            } else {
                high = start
            }
        }
        guard low < to else { return (low, false) }
        let end = nextNewline(in: old, from: low)
        let linePath = pathField(of: UnsafeBufferPointer(rebasing: old[low..<end]))
        return (low, sameBytes(linePath, path))
    }
}
