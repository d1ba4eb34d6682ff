import FileList
import ListProtocol
import TreeScan

/// The lists an index renders.
public enum ListKind: Sendable, Hashable {
    /// `fullfiletimelist`: header, `[Files]`, checksums, `[End]`.
    case times
    /// `fullfilelist`: every listed path, `./`-prefixed.
    case paths
    /// `imagelist-MODULE`: the image files among them.
    case images
}

/// Which directories' blocks made each segment of a list the index rendered: handed back
/// at the next rendering, so that a segment made of the same blocks, none of which
/// changed, is reused instead of rendered, hashed and compressed again.
public struct BlockLayout: Sendable {
    /// Every block of the list, in order (directory node ids).
    fileprivate var blocks: [TreeIndex.NodeID] = []
    fileprivate var segments: [Shape] = []

    fileprivate enum Shape: Equatable {
        /// `[Version]`, the header: rendered each time.
        case header
        /// Blocks `blocks[start..<start+count]`, followed by the empty line that ends
        /// `[Files]` when `endsFiles`.
        case blocks(start: Int, count: Int, endsFiles: Bool)
        /// The empty line alone, or part of the checksums and `[End]`: rendered each time.
        case rendered
    }

    public init() {}

    /// Segments in the list.
    public var count: Int { segments.count }
}

/// Whether a list segment may end after a directory's block: the rule's test on the
/// directory's path, made once per directory and kept until its node is reused.
struct SegmentEnds {
    private var known = NodeBits()
    private var ends = NodeBits()

    mutating func endsAfter(_ directory: TreeIndex.NodeID, path: UnsafeBufferPointer<UInt8>) -> Bool {
        if known.contains(directory) { return ends.contains(directory) }
        known.insert(directory)
        let result = ListSegmentRule.endsSegment(key: UnsafeRawBufferPointer(path))
        if result { ends.insert(directory) }
        return result
    }

    mutating func forget(_ node: TreeIndex.NodeID) {
        known.remove(node)
        ends.remove(node)
    }
}

extension TreeIndex {
    /// Whether anything the lists show changed since `markPublished()`.
    public var hasUnpublishedChanges: Bool { !blockChanges.isEmpty }

    /// Whether the path lists (`-f`, `-i`) may have changed since `markPublished()`: only
    /// a name added, removed, listed or hidden changes them.
    public func hasUnpublishedChanges(in kind: ListKind) -> Bool {
        switch kind {
        case .times: !blockChanges.isEmpty
        case .paths: blockChanges.pathsChanged
        case .images: blockChanges.images
        }
    }

    /// The lists rendered since the last call are published: changes count from now.
    public mutating func markPublished() { blockChanges.removeAll() }

    /// Renders `kind` as segments, in order, handing each to `emit`: a segment the
    /// `previous` rendering (whose layout this returns) had with the same blocks, none
    /// changed since `markPublished()`, as `reused`; every other as its bytes. Work follows
    /// the change: one pass over the directories and their children's flags, and lines
    /// rendered only for segments with a changed block. The image list is rendered whole
    /// (it is small, and it changes only with image files).
    public mutating func renderSegments(
        _ kind: ListKind, version: Int = FileListFormat.defaultVersion, algorithms: [ChecksumAlgorithm] = [.sha1],
        previous: BlockLayout?, emit: (SegmentPiece) throws -> Void
    ) rethrows -> BlockLayout {
        var renderer = SegmentRenderer(kind: kind, previous: kind == .images ? nil : previous)
        if kind == .times {
            var header: [UInt8] = []
            FileListFormat.appendHeader(version: version, to: &header)
            // The header's empty line ends a segment; `[Files]` starts the root's block.
            let files = Array("[Files]\n".utf8)
            renderer.layout.segments.append(.header)
            try emit(.fresh(Array(header.dropLast(files.count))))
        }
        var path: [UInt8] = []
        // Pre-order over directories: (node, length of the parent's path in `path`).
        var stack: [(NodeID, Int)] = [(Self.root, 0)]
        var subdirectories: [NodeID] = []
        while let (directory, parentLength) = stack.popLast() {
            path.removeSubrange(parentLength...)
            if directory != Self.root {
                if parentLength > 0 { path.append(0x2F) }
                path.append(contentsOf: name(of: directory))
            }
            let list = children[directory] ?? []
            var lines = kind == .times && directory == Self.root
            subdirectories.removeAll(keepingCapacity: true)
            for node in list {
                let bits = flags[Int(node)]
                guard bits.isListed else { continue }
                if !lines {
                    lines =
                        kind != .images
                        || bits.kind == .file
                            && name(of: node).withUnsafeBufferPointer {
                                EntryRules.isImage($0)
                            }
                }
                if bits.kind == .directory && children[node] != nil { subdirectories.append(node) }
            }
            for subdirectory in subdirectories.reversed() { stack.append((subdirectory, path.count)) }
            guard lines else { continue }
            let ends = path.withUnsafeBufferPointer { segmentEnds.endsAfter(directory, path: $0) }
            try renderer.add(block: directory, endsSegment: ends, index: &self, emit: emit)
        }
        try renderer.finish(index: &self, emit: emit)
        if kind == .times {
            // The checksums and `[End]`: a few hundred lines, cut by the rule and rendered
            // each time (the empty line that ends `[Files]` is in the last block's segment).
            let trailer = Array(trailer(algorithms: algorithms).dropFirst())
            for range in ListSegmentRule.segments(of: trailer) {
                renderer.layout.segments.append(.rendered)
                try emit(.fresh(Array(trailer[range])))
            }
        }
        return renderer.layout
    }
}

/// The state of one `renderSegments` pass: the blocks of the segment being put together.
private struct SegmentRenderer {
    let kind: ListKind
    let previous: BlockLayout?
    var layout = BlockLayout()
    /// The previous layout's segments by their first block.
    let previousByFirst: [TreeIndex.NodeID: Int]
    /// Blocks of the open segment (their start in `layout.blocks`).
    var start = 0
    /// A segment ends before the next block: the last block's directory says so.
    var endPending = false

    init(kind: ListKind, previous: BlockLayout?) {
        self.kind = kind
        self.previous = previous
        var byFirst: [TreeIndex.NodeID: Int] = [:]
        if let previous {
            for (index, shape) in previous.segments.enumerated() {
                if case .blocks(let start, _, _) = shape { byFirst[previous.blocks[start]] = index }
            }
        }
        previousByFirst = byFirst
    }

    mutating func add(
        block: TreeIndex.NodeID, endsSegment: Bool, index: inout TreeIndex, emit: (SegmentPiece) throws -> Void
    ) rethrows {
        if endPending { try close(endsFiles: false, index: &index, emit: emit) }
        layout.blocks.append(block)
        endPending = endsSegment
    }

    mutating func finish(index: inout TreeIndex, emit: (SegmentPiece) throws -> Void) rethrows {
        guard kind == .times else {
            if layout.blocks.count > start { try close(endsFiles: false, index: &index, emit: emit) }
            return
        }
        // The empty line that ends `[Files]` has the root's key: after the last block's
        // line a segment ends only if that block is not the root's and its path says so.
        if endPending && layout.blocks.last != TreeIndex.root {
            try close(endsFiles: false, index: &index, emit: emit)
            layout.segments.append(.rendered)
            try emit(.fresh([0x0A]))
        } else {
            try close(endsFiles: true, index: &index, emit: emit)
        }
    }

    private mutating func close(
        endsFiles: Bool, index: inout TreeIndex, emit: (SegmentPiece) throws -> Void
    ) rethrows {
        let blocks = layout.blocks[start...]
        let shape = BlockLayout.Shape.blocks(start: start, count: blocks.count, endsFiles: endsFiles)
        start = layout.blocks.count
        endPending = false
        layout.segments.append(shape)
        if let reused = reusable(blocks, endsFiles: endsFiles, index: index) {
            try emit(.reused(reused))
            return
        }
        var bytes: [UInt8] = []
        for block in blocks { index.appendBlock(of: block, kind: kind, to: &bytes) }
        if endsFiles { bytes.append(0x0A) }
        try emit(.fresh(bytes))
    }

    /// The previous segment with exactly these blocks, none of them changed since.
    private func reusable(
        _ blocks: ArraySlice<TreeIndex.NodeID>, endsFiles: Bool, index: borrowing TreeIndex
    ) -> Int? {
        guard let previous, let first = blocks.first, let position = previousByFirst[first],
            case .blocks(let start, let count, let ended) = previous.segments[position], count == blocks.count,
            ended == endsFiles, previous.blocks[start..<(start + count)].elementsEqual(blocks)
        else { return nil }
        for block in blocks where index.blockChanged(block, in: kind) { return nil }
        return position
    }
}

extension TreeIndex {
    func blockChanged(_ directory: NodeID, in kind: ListKind) -> Bool {
        switch kind {
        case .times: blockChanges.times.contains(directory)
        case .paths: blockChanges.paths.contains(directory)
        case .images: true
        }
    }

    /// The lines of one directory's block in the list `kind`.
    func appendBlock(of directory: NodeID, kind: ListKind, to bytes: inout [UInt8]) {
        if kind == .times && directory == Self.root { bytes += Array("[Files]\n".utf8) }
        var prefix = directory == Self.root ? [] : path(of: directory)
        if !prefix.isEmpty { prefix.append(0x2F) }
        names.withUnsafeBufferPointer { arena in
            prefix.withUnsafeBufferPointer { prefix in
                for node in children[directory] ?? [] {
                    let index = Int(node)
                    let bits = flags[index]
                    guard bits.isListed else { continue }
                    let start = Int(nameStart[index])
                    let name = UnsafeBufferPointer(rebasing: arena[start..<(start + Int(nameLength[index]))])
                    switch kind {
                    case .times:
                        FileListFormat.appendLine(
                            time: time[index], type: EntryType(bits.kind, bits.access), size: size[index],
                            prefix: prefix, name: name, to: &bytes)
                    case .paths:
                        PathListFormat.appendLine(prefix: prefix, name: name, to: &bytes)
                    case .images:
                        if PathListFormat.isImage(kind: bits.kind, name: name) {
                            PathListFormat.appendLine(prefix: prefix, name: name, to: &bytes)
                        }
                    }
                }
            }
        }
    }
}
