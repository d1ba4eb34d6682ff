import FileList
import TreeScan

extension TreeIndex {
    /// Writes the whole list in the order `create-filelist` uses: each directory's listed
    /// children as one block sorted by name bytes, blocks in depth-first pre-order.
    /// Output comes in chunks of about 1 MiB.
    public func render(
        version: Int = FileListFormat.defaultVersion, algorithms: [ChecksumAlgorithm] = [.sha1],
        to output: ([UInt8]) throws -> Void
    ) rethrows {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 21)
        FileListFormat.appendHeader(version: version, to: &buffer)
        var stack: [(node: NodeID, prefix: [UInt8])] = [(Self.root, [])]
        try names.withUnsafeBufferPointer { arena in
            while let (directory, prefix) = stack.popLast() {
                guard let list = children[directory] else { continue }
                var subdirectories: [(NodeID, [UInt8])] = []
                prefix.withUnsafeBufferPointer { prefixBytes in
                    for node in list {
                        let index = Int(node)
                        let bits = flags[index]
                        guard bits.isListed else { continue }
                        let start = Int(nameStart[index])
                        let name = UnsafeBufferPointer(rebasing: arena[start..<(start + Int(nameLength[index]))])
                        FileListFormat.appendLine(
                            time: time[index], type: EntryType(bits.kind, bits.access), size: size[index],
                            prefix: prefixBytes, name: name, to: &buffer)
                        if bits.kind == .directory && children[node] != nil {
                            subdirectories.append((node, Array(prefixBytes) + Array(name) + [0x2F]))
                        }
                    }
                }
                stack.append(contentsOf: subdirectories.reversed())
                if buffer.count >= 1 << 20 {
                    try output(buffer)
                    buffer.removeAll(keepingCapacity: true)
                }
            }
        }
        buffer += trailer(algorithms: algorithms)
        try output(buffer)
    }

    /// The list's bytes from the empty line that ends `[Files]`: checksums and `[End]`.
    public func trailer(algorithms: [ChecksumAlgorithm]) -> [UInt8] {
        var listed: [FileChecksum] = []
        for (node, hex) in checksums where flags[Int(node)].isListed {
            listed.append(FileChecksum(path: path(of: node), hex: hex))
        }
        var bytes: [UInt8] = []
        FileListFormat.appendTrailer(checksums: listed, algorithms: algorithms, to: &bytes)
        return bytes
    }

    /// The whole list in memory, for tests.
    public func renderBytes(
        version: Int = FileListFormat.defaultVersion, algorithms: [ChecksumAlgorithm] = [.sha1]
    ) -> [UInt8] {
        var bytes: [UInt8] = []
        render(version: version, algorithms: algorithms) { bytes += $0 }
        return bytes
    }
}

extension TreeIndex {
    /// The `-f` list (every listed path prefixed with `./`, in list order), or with
    /// `imagesOnly` the `-i` list (the image files among them).
    public func renderPaths(imagesOnly: Bool = false, to output: ([UInt8]) throws -> Void) rethrows {
        var buffer: [UInt8] = []
        var stack: [NodeID] = [Self.root]
        try names.withUnsafeBufferPointer { arena in
            while let directory = stack.popLast() {
                guard let list = children[directory] else { continue }
                let prefix = directory == Self.root ? [] : path(of: directory) + [0x2F]
                var subdirectories: [NodeID] = []
                prefix.withUnsafeBufferPointer { prefix in
                    for node in list where flags[Int(node)].isListed {
                        let start = Int(nameStart[Int(node)])
                        let name = UnsafeBufferPointer(rebasing: arena[start..<(start + Int(nameLength[Int(node)]))])
                        let kind = flags[Int(node)].kind
                        if !imagesOnly || PathListFormat.isImage(kind: kind, name: name) {
                            PathListFormat.appendLine(prefix: prefix, name: name, to: &buffer)
                        }
                        if kind == .directory { subdirectories.append(node) }
                    }
                }
                stack.append(contentsOf: subdirectories.reversed())
                if buffer.count >= 1 << 20 {
                    try output(buffer)
                    buffer.removeAll(keepingCapacity: true)
                }
            }
        }
        try output(buffer)
    }
}
