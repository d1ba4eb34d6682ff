import FileList

/// The lines of the list last published, for every path whose line may have changed
/// since: with them and the index as it is now, the next list is described as a delta
/// from the last one without reading either list (the index knows what it changed).
struct ListJournal {
    /// Path → its line in the published list, without the newline (nil: not in it).
    /// The first record of a path wins: it is what the published list holds.
    var before: [[UInt8]: [UInt8]?] = [:]
    /// The published list's bytes from the empty line that ends `[Files]`.
    var trailer: [UInt8]
    /// Set when more paths changed than a delta is worth: the journal stops recording,
    /// and whoever serves the lists diffs them instead.
    var overflowed = false

    static let limit = 50_000
}

extension TreeIndex {
    /// Starts recording changes against the list just rendered with `algorithms`: call
    /// it once that list is published.
    public mutating func startJournal(algorithms: [ChecksumAlgorithm]) {
        journal = ListJournal(trailer: trailer(algorithms: algorithms))
    }

    /// Stops recording: the next list has no delta from the index (a publish that
    /// failed midway, or a list that is not this index's rendering).
    public mutating func dropJournal() { journal = nil }

    /// The delta from the list the journal started at (`base`) to the list as the index
    /// renders it now (`result`); nil when there is no journal or it overflowed.
    public func journalDelta(
        base: String, result: String, algorithms: [ChecksumAlgorithm]
    ) throws(FileListDeltaError) -> FileListDelta? {
        guard let journal, !journal.overflowed else { return nil }
        var edits: [FileListDelta.PathEdit] = []
        for (path, old) in journal.before {
            let new = node(at: path).flatMap { line(of: $0) }
            switch (old, new) {
            case (nil, nil): continue
            case (nil, let added?): edits.append(.add(line: added))
            case (_?, nil): edits.append(.remove(path: path))
            case (let old?, let new?):
                if old != new { edits.append(.change(line: new)) }
            }
        }
        let tail = trailer(algorithms: algorithms)
        return try FileListDelta.make(
            base: base, result: result, edits: edits, tail: tail == journal.trailer ? nil : tail)
    }

    /// Records the line `node` has in the list now, unless its path is recorded already.
    mutating func journalLine(of node: NodeID) {
        guard journal?.overflowed == false else { return }
        let path = path(of: node)
        guard journal?.before.index(forKey: path) == nil else { return }
        let current = line(of: node)
        journal?.before[path] = .some(current)
        if journal!.before.count > ListJournal.limit {
            journal?.overflowed = true
            journal?.before = [:]
        }
    }

    /// Records the lines of everything below `node`.
    mutating func journalSubtree(below node: NodeID) {
        var stack = children[node] ?? []
        while let current = stack.popLast(), journal?.overflowed == false {
            journalLine(of: current)
            stack.append(contentsOf: children[current] ?? [])
        }
    }

    /// The node's line as `render` writes it (without the newline); nil when the node,
    /// or a directory above it, is not listed.
    func line(of node: NodeID) -> [UInt8]? {
        var current = node
        while current != Self.root {
            let bits = flags[Int(current)]
            guard bits.inUse && bits.isListed else { return nil }
            current = parent[Int(current)]
        }
        let index = Int(node)
        let bits = flags[index]
        var line: [UInt8] = []
        path(of: node).withUnsafeBufferPointer { path in
            FileListFormat.appendLine(
                time: time[index], type: EntryType(bits.kind, bits.access), size: size[index],
                prefix: UnsafeBufferPointer(start: nil, count: 0), name: path, to: &line)
        }
        line.removeLast()
        return line
    }
}
