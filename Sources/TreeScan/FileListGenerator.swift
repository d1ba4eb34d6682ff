import FileList

/// What a one-shot generation produced.
public struct GenerationSummary: Sendable {
    public var entries = 0
    public var directories = 0
    public var checksums: [FileChecksum] = []
}

/// The one-shot generator behind `create-filelist`: walks a tree and streams the time
/// list (and optionally the `-f` path list and `-i` image list) to the given outputs.
///
/// Lines are rendered on the walker threads, one block per directory; the calling
/// thread only writes finished blocks in order, so memory stays near the size of the
/// blocks in flight rather than the size of the list.
public struct FileListGenerator: Sendable {
    public var options: ScanOptions
    public var version: Int

    public init(options: ScanOptions = ScanOptions(), version: Int = FileListFormat.defaultVersion) {
        self.options = options
        self.version = version
    }

    public typealias Output = ([UInt8]) throws -> Void

    public func generate(
        root: String,
        timeList: Output,
        pathList: Output? = nil,
        imageList: Output? = nil,
        warn: @escaping @Sendable (ScanWarning) -> Void
    ) throws -> GenerationSummary {
        // The header waits for the root's block, so a tree that cannot be opened writes nothing.
        var header: [UInt8]? = []
        FileListFormat.appendHeader(version: version, to: &header!)

        var summary = GenerationSummary()
        let wantPaths = pathList != nil
        let wantImages = imageList != nil
        summary.directories = try ParallelWalk.run(
            root: root, options: options, warn: warn,
            transform: { RenderedDirectory($0, paths: wantPaths, images: wantImages) },
            consume: { block in
                if let pending = header {
                    try timeList(pending)
                    header = nil
                }
                summary.entries += block.entryCount
                summary.checksums += block.checksums
                if !block.lines.isEmpty { try timeList(block.lines) }
                if let pathList, !block.paths.isEmpty { try pathList(block.paths) }
                if let imageList, !block.images.isEmpty { try imageList(block.images) }
            })

        var trailer: [UInt8] = []
        FileListFormat.appendTrailer(checksums: summary.checksums, algorithms: options.algorithms, to: &trailer)
        try timeList(trailer)
        return summary
    }

    /// The whole list in memory, for tests and small trees.
    public func generateBytes(root: String, warn: @escaping @Sendable (ScanWarning) -> Void = { _ in }) throws
        -> [UInt8]
    {
        var bytes: [UInt8] = []
        _ = try generate(root: root, timeList: { bytes += $0 }, warn: warn)
        return bytes
    }
}

/// The lines of one directory's children, rendered on a walker thread.
struct RenderedDirectory: Sendable {
    var lines: [UInt8] = []
    var paths: [UInt8] = []
    var images: [UInt8] = []
    var checksums: [FileChecksum]
    var entryCount: Int

    init(_ directory: ScannedDirectory, paths wantPaths: Bool, images wantImages: Bool) {
        checksums = directory.checksums
        entryCount = 0
        var prefix = directory.path
        if !prefix.isEmpty { prefix.append(0x2F) }
        // Lines average about 120 bytes on a Fedora-like tree.
        lines.reserveCapacity(directory.entries.count * (prefix.count + 48) + directory.names.count)
        prefix.withUnsafeBufferPointer { prefix in
            for entry in directory.entries where entry.isListed {
                entryCount += 1
                directory.withName(of: entry) { name in
                    FileListFormat.appendLine(
                        time: entry.time, type: entry.type, size: entry.size, prefix: prefix, name: name, to: &lines)
                    if wantPaths { PathListFormat.appendLine(prefix: prefix, name: name, to: &paths) }
                    if wantImages && PathListFormat.isImage(kind: entry.type.kind, name: name) {
                        PathListFormat.appendLine(prefix: prefix, name: name, to: &images)
                    }
                }
            }
        }
    }
}
