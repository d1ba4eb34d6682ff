import Crypto
import Dispatch
import LinuxCalls
import ListProtocol
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Puts a new version of a list together from its segments, in an unnamed file beside
/// its target: the segments the previous version also had are copied from it inside the
/// kernel (or share its blocks, where the file system can), the others are written and
/// hashed. Nothing is named yet; `ListInstaller` makes the file durable and renames it.
///
/// The writes and hashes run on a thread of their own, so a whole rendering (the first
/// one) overlaps with them. While every segment so far is the previous version's, nothing
/// is written: a list that did not change costs no copy at all.
final class ListFileBuilder {
    let target: String
    let previous: PublishedList?
    let directory: FileDescriptor
    let targetName: String
    private(set) var file: FileDescriptor?
    /// Set where the file system lacks O_TMPFILE: the file had a name from the start.
    private(set) var namedTemporary: String?
    private let sink: Sink
    private var offset: Int64 = 0
    private var position = 0
    /// Pieces held back while the new version is still the previous one, segment by segment.
    private var heldBack: [Held] = []
    private var heldBackBytes = 0
    private var identicalSoFar: Bool

    private enum Held {
        case reused(Int)
        case fresh([UInt8], SHA256.Digest)
    }

    /// A list whose fresh segments held back reach this size is written out even if it
    /// may turn out unchanged (it is then compared by digest at the end).
    static let holdBackLimit = 32 << 20

    init(target: String, previous: PublishedList?) throws(SystemCallError) {
        self.target = target
        self.previous = previous
        identicalSoFar = previous != nil
        let (directoryPath, name) = Self.split(target)
        targetName = name
        do {
            directory = try Linux.openat(nil, directoryPath, flags: O_RDONLY | O_DIRECTORY)
        } catch {
            throw SystemCallError(error.call, path: target, errno: error.errno)
        }
        do throws(SystemCallError) {
            // Renaming over a directory would fail only at the end, after all the work.
            if let existing = try? Linux.openat(directory, name, flags: O_RDONLY | O_DIRECTORY | O_NOFOLLOW) {
                try? existing.close()
                throw SystemCallError("open", path: target, errno: .isDirectory)
            }
            if let flag = Linux.temporaryFileFlag,
                let unnamed = try? Linux.openat(directory, ".", flags: flag | O_RDWR, mode: 0o644)
            {
                file = unnamed
            } else {
                let temporary = Self.temporaryName(for: name)
                file = try Linux.openat(directory, temporary, flags: O_RDWR | O_CREAT | O_EXCL, mode: 0o644)
                namedTemporary = temporary
            }
            // The creation mode went through the umask; lists must be world-readable.
            try Linux.fchmod(file!, mode: 0o644, displayPath: target)
        } catch {
            if let namedTemporary { try? Linux.unlink(namedTemporary, in: directory) }
            try? file?.close()
            try? directory.close()
            throw SystemCallError(error.call, path: target, errno: error.errno)
        }
        sink = Sink(file: file!, source: previous?.descriptor, displayPath: target)
    }

    deinit {
        discard()
        try? directory.close()
    }

    /// The next segment.
    func append(_ piece: SegmentPiece) throws(SystemCallError) {
        defer { position += 1 }
        if identicalSoFar, let previous {
            switch piece {
            case .reused(let index) where index == position:
                heldBack.append(.reused(index))
                return
            case .fresh(let bytes) where bytes.count <= 1 << 20 && position < previous.segments.count:
                let digest = SHA256.hash(data: bytes)
                if digest == previous.segments[position].digest && bytes.count == previous.segments[position].length
                    && heldBackBytes + bytes.count <= Self.holdBackLimit
                {
                    heldBack.append(.fresh(bytes, digest))
                    heldBackBytes += bytes.count
                    return
                }
            default:
                break
            }
            try release()
        }
        try write(piece, digest: nil)
    }

    /// The new version, or nil when it is the previous one, byte for byte.
    func finish() throws(SystemCallError) -> PublishedList? {
        if identicalSoFar, let previous, position == previous.segments.count {
            discard()
            return nil
        }
        try release()
        try flushCopy()
        let segments = try sink.finish()
        guard let file else { throw SystemCallError("write", path: target, errno: .badFileDescriptor) }
        let digest = ListDigest.combine(segments.map(\.digest))
        if let previous, digest == previous.digest {
            discard()
            return nil
        }
        let info = try Linux.fstat(file, displayPath: target)
        // The descriptor now belongs to the version; the builder keeps what the installer needs.
        let version = PublishedList(target: target, descriptor: file, digest: digest, segments: segments, info: info)
        self.file = nil
        return version
    }

    /// Writes out what was held back: the list differs from the previous version.
    private func release() throws(SystemCallError) {
        guard identicalSoFar else { return }
        identicalSoFar = false
        let held = heldBack
        heldBack = []
        heldBackBytes = 0
        for piece in held {
            switch piece {
            case .reused(let index): try write(.reused(index), digest: nil)
            case .fresh(let bytes, let digest): try write(.fresh(bytes), digest: digest)
            }
        }
    }

    private func write(_ piece: SegmentPiece, digest: SHA256.Digest?) throws(SystemCallError) {
        switch piece {
        case .reused(let index):
            guard let previous, index < previous.segments.count else {
                throw SystemCallError("copy", path: target, errno: .invalidArgument)
            }
            let segment = previous.segments[index]
            try sink.append(ListSegment(offset: Int(offset), length: segment.length, digest: segment.digest))
            // Reused segments that follow each other in both files are one copy (one
            // clone of many blocks, where the file system shares them).
            if let run = pendingCopy, run.from + run.count == Int64(segment.offset), run.to + run.count == offset {
                pendingCopy = (run.from, run.to, run.count + Int64(segment.length))
            } else {
                try flushCopy()
                pendingCopy = (Int64(segment.offset), offset, Int64(segment.length))
            }
            offset += Int64(segment.length)
        case .fresh(let bytes):
            try flushCopy()
            try sink.write(bytes, at: offset, digest: digest)
            offset += Int64(bytes.count)
        }
    }

    /// A run of reused segments, copied once it ends.
    private var pendingCopy: (from: Int64, to: Int64, count: Int64)?

    private func flushCopy() throws(SystemCallError) {
        guard let run = pendingCopy else { return }
        pendingCopy = nil
        try sink.copy(from: run.from, to: run.to, count: run.count)
    }

    /// What building this version cost so far.
    var statistics: BuildStatistics { sink.statistics }

    /// Drops the new bytes; the target is left as it was.
    func discard() {
        sink.drain()
        if let namedTemporary { try? Linux.unlink(namedTemporary, in: directory) }
        namedTemporary = nil
        try? file?.close()
        file = nil
    }

    /// Hands over the named temporary file's name, if it has one (the installer renames it).
    func takeNamedTemporary() -> String? {
        defer { namedTemporary = nil }
        return namedTemporary
    }

    static func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let directory = path[..<slash]
        return (directory.isEmpty ? "/" : String(directory), String(path[path.index(after: slash)...]))
    }

    /// Temporary files are named `.<target>.tmp-<random>`; `create-filelist -s` skips them.
    static func temporaryName(for targetName: String) -> String {
        AtomicFile.temporaryNamePrefix(for: targetName) + String(UInt64.random(in: 0...UInt64.max), radix: 36)
    }
}

extension ListFileBuilder {
    /// Copies and writes at given offsets, on a thread of their own, in order; the digests
    /// of written segments computed there too. A failure is kept and reported by the next
    /// call or by `finish`.
    final class Sink: Sendable {
        private let file: FileDescriptor
        private let source: FileDescriptor?
        private let displayPath: String
        private let queue = DispatchQueue(label: "quickmirror.list-builder")
        /// Pieces given but not done yet, at most this many: the rendering waits for a
        /// slow disk instead of holding a whole list in memory.
        private let inFlight = DispatchSemaphore(value: 16)
        private let state = Mutex(State())

        private struct State {
            var segments: [ListSegment] = []
            var failure: SystemCallError?
            /// Whether blocks may be shared with the source (cleared at the first refusal).
            var cloning = true
            var statistics = BuildStatistics()
        }

        init(file: FileDescriptor, source: FileDescriptor?, displayPath: String) {
            self.file = file
            self.source = source
            self.displayPath = displayPath
        }

        /// A segment whose bytes another call puts in place (a copy), its digest known.
        func append(_ segment: ListSegment) throws(SystemCallError) {
            try state.withLock { state throws(SystemCallError) in
                if let failure = state.failure { throw failure }
                state.segments.append(segment)
            }
        }

        func copy(from sourceOffset: Int64, to offset: Int64, count: Int64) throws(SystemCallError) {
            try enqueue(nil) {
                [self] () throws(SystemCallError) in
                guard let source else { throw SystemCallError("copy", path: displayPath, errno: .badFileDescriptor) }
                try copyRange(from: source, at: sourceOffset, to: offset, count: count)
                state.withLock { $0.statistics.copied += Int(count) }
            }
        }

        func write(_ bytes: [UInt8], at offset: Int64, digest: SHA256.Digest?) throws(SystemCallError) {
            let placeholder = digest ?? SHA256.hash(data: [UInt8]())
            let queued = try enqueue(ListSegment(offset: Int(offset), length: bytes.count, digest: placeholder)) {
                [self] () throws(SystemCallError) in
                let failure = bytes.withUnsafeBytes { buffer -> SystemCallError? in
                    do throws(SystemCallError) {
                        try Linux.pwriteAll(file, buffer, at: offset, displayPath: displayPath)
                        return nil
                    } catch {
                        return error
                    }
                }
                if let failure { throw failure }
                state.withLock { $0.statistics.written += bytes.count }
            }
            if digest == nil, let index = queued {
                // Hashed on the same thread, after the write: the rendering goes on meanwhile.
                queue.async { [self] in
                    let hashed = SHA256.hash(data: bytes)
                    state.withLock { $0.segments[index].digest = hashed }
                }
            }
        }

        /// Queues `work`; with a segment, records it (in order) and returns its position.
        @discardableResult
        private func enqueue(
            _ segment: ListSegment?, _ work: @escaping @Sendable () throws(SystemCallError) -> Void
        ) throws(SystemCallError) -> Int? {
            let index = try state.withLock { state throws(SystemCallError) -> Int? in
                if let failure = state.failure { throw failure }
                guard let segment else { return nil }
                state.segments.append(segment)
                return state.segments.count - 1
            }
            inFlight.wait()
            queue.async { [self] in
                defer { inFlight.signal() }
                guard state.withLock({ $0.failure == nil }) else { return }
                do throws(SystemCallError) {
                    try work()
                } catch {
                    state.withLock { $0.failure = $0.failure ?? error }
                }
            }
            return index
        }

        /// Blocks shared where the file system allows it (`Linux.copySharingBlocks`).
        private func copyRange(from source: FileDescriptor, at sourceOffset: Int64, to offset: Int64, count: Int64)
            throws(SystemCallError)
        {
            var cloning = state.withLock { $0.cloning }
            let shared = try Linux.copySharingBlocks(
                from: source, at: sourceOffset, to: file, at: offset, count: count, cloning: &cloning,
                displayPath: displayPath)
            state.withLock {
                $0.cloning = cloning
                $0.statistics.shared += Int(shared)
            }
        }

        /// Waits for everything given; the segments, or the first failure.
        func finish() throws(SystemCallError) -> [ListSegment] {
            queue.sync {}
            return try state.withLock { state throws(SystemCallError) -> [ListSegment] in
                if let failure = state.failure { throw failure }
                return state.segments
            }
        }

        /// Waits for the work given: nothing may land in a descriptor number reused later.
        func drain() { queue.sync {} }

        var statistics: BuildStatistics { state.withLock { $0.statistics } }
    }
}

/// Bytes a new version took: written (rendered segments, hashed), copied from the previous
/// version in the kernel, and shared with it (blocks the file system shares: no copy).
public struct BuildStatistics: Sendable, Equatable {
    public var written = 0
    public var copied = 0
    public var shared = 0

    public init() {}

    static func + (a: Self, b: Self) -> Self {
        var sum = a
        sum.written += b.written
        sum.copied += b.copied
        sum.shared += b.shared
        return sum
    }
}
