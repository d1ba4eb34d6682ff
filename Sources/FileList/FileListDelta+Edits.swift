extension FileListDelta {
    /// One `[Files]` change, as a publisher that knows what it changed describes it.
    public enum PathEdit: Sendable, Equatable {
        /// A line for a path the old list lacks.
        case add(line: [UInt8])
        /// The new line of a path the old list has.
        case change(line: [UInt8])
        /// A path the old list has and the new one lacks.
        case remove(path: [UInt8])
    }

    /// The delta from a list to the next, from its edits rather than from both lists:
    /// a publisher that tracked which paths changed needs to read neither list.
    /// `tail` is the new list's bytes from the empty line that ends `[Files]` when they
    /// changed, `head` its bytes before the first line when they changed. Edits may come
    /// in any order (they are put in the lists' canonical order here); lines are checked
    /// as lines of a list are.
    public static func make(
        base: String, result: String, edits: [PathEdit], head: [UInt8]? = nil, tail: [UInt8]? = nil
    ) throws(FileListDeltaError) -> FileListDelta {
        for identifier in [base, result] where !isIdentifier(identifier) {
            throw FileListDeltaError(problem: .badIdentifier(identifier))
        }
        var keyed: [(path: [UInt8], kind: EditKind, content: [UInt8])] = []
        keyed.reserveCapacity(edits.count)
        for (number, edit) in edits.enumerated() {
            switch edit {
            case .add(let line), .change(let line):
                let parsed = line.withUnsafeBufferPointer { bytes in
                    Result { () throws(FileListError) in
                        Array(
                            try FileListReader.parseEntry(bytes) {
                                FileListError(source: "edits to \(result)", line: number + 1, problem: $0)
                            }.path)
                    }
                }
                let path: [UInt8]
                do {
                    path = try parsed.get()
                } catch {
                    throw FileListDeltaError(error)
                }
                if case .add = edit {
                    keyed.append((path, .add, line))
                } else {
                    keyed.append((path, .change, line))
                }
            case .remove(let path):
                keyed.append((path, .remove, path))
            }
        }
        keyed.sort { a, b in
            a.path.withUnsafeBufferPointer { a in b.path.withUnsafeBufferPointer { b in FileListOrder.compare(a, b) < 0 } }
        }
        var encoded: [UInt8] = []
        encoded.reserveCapacity(keyed.reduce(0) { $0 + $1.content.count + 3 })
        for edit in keyed {
            encoded.append(edit.kind.rawValue)
            encoded.append(FileListFormat.tab)
            encoded.append(contentsOf: edit.content)
            encoded.append(FileListFormat.newline)
        }
        return FileListDelta(
            base: base, result: result, editCount: keyed.count, edits: encoded, head: head, tail: tail)
    }
}
