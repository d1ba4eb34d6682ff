import LinuxCalls
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// A file that replaces its target all at once, or not at all.
///
/// Bytes go to an unnamed `O_TMPFILE` in the target's directory (a named temporary file
/// where the file system lacks it); `commit` fsyncs it, gives it a temporary name,
/// `rename`s it over the target and fsyncs the directory. A reader, or a process killed
/// at any moment, sees the old list or the new one, never part of one. Nothing is ever
/// removed before the new file is in place: there is no moment without a list.
public final class AtomicFile {
    public enum Outcome: Sendable, Equatable {
        /// The target now holds the new bytes.
        case replaced
        /// `ifChanged` was set and the target already held these bytes; it was left as it
        /// was (same inode, same mtime), so HTTP ETags and rsync checks stay quiet.
        case unchanged
    }

    public let target: String
    private let directory: FileDescriptor
    private let targetName: String
    private var file: FileDescriptor?
    /// Set when the file system lacks O_TMPFILE and the temporary file has a name from the start.
    private var namedTemporary: String?
    /// Set once the file is open; writes go through it, off the caller's thread.
    private var writer: BackgroundWriter?
    /// Hashed as written, when asked: whoever serves the file gets its digest without
    /// reading it back.
    private let hasher: StreamingDigest?

    /// Temporary files are named `.<target>.tmp-<random>`; `create-filelist -s` skips them.
    public static func temporaryNamePrefix(for targetName: String) -> String { ".\(targetName).tmp-" }

    /// Opens the temporary file at once, so that an unwritable target fails before any work.
    public init(target: String, mode: mode_t = 0o644, hashing: Bool = false) throws(SystemCallError) {
        self.target = target
        hasher = hashing ? StreamingDigest() : nil
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
                let unnamed = try? Linux.openat(directory, ".", flags: flag | O_RDWR, mode: mode)
            {
                file = unnamed
            } else {
                let name = Self.temporaryNamePrefix(for: targetName) + Self.randomSuffix()
                file = try Linux.openat(directory, name, flags: O_RDWR | O_CREAT | O_EXCL, mode: mode)
                namedTemporary = name
            }
            // The creation mode went through the umask; lists must be world-readable.
            try Linux.fchmod(file!, mode: mode, displayPath: target)
            writer = BackgroundWriter(file: file!, displayPath: target)
        } catch {
            discard()
            try? directory.close()
            throw SystemCallError(error.call, path: target, errno: error.errno)
        }
    }

    deinit {
        discard()
        try? directory.close()
    }

    /// Hands the bytes to the writing thread; a failure shows at a later write or at `commit`.
    public func write(_ bytes: [UInt8]) throws(SystemCallError) {
        guard file != nil, let writer else { throw SystemCallError("write", path: target, errno: .badFileDescriptor) }
        try writer.write(bytes)
        hasher?.update(bytes)
    }

    /// The SHA-256 (hex) of the bytes written so far; nil unless made with `hashing`.
    public var digest: String? { hasher?.hex }

    /// Makes the written bytes the target's content, durably. `targetDigest` is what the
    /// caller knows the target to hold (it published it): with `ifChanged`, comparing it
    /// with the new digest replaces reading the whole target back.
    @discardableResult
    public func commit(ifChanged: Bool = false, targetDigest: String? = nil) throws(SystemCallError) -> Outcome {
        let outcome = try prepareCommit(ifChanged: ifChanged, targetDigest: targetDigest)
        if outcome == .replaced { try completeCommit() }
        return outcome
    }

    /// Commits several files as one step: every file is written and fsynced under a
    /// temporary name before the first rename, so the renames follow each other within
    /// microseconds. Lists of modules that share hard links go this way: a client that
    /// saw one new list and an old one would transfer the shared files twice.
    ///
    /// With `syncDirectoryLater`, the renames are visible (and the files' bytes durable)
    /// on return, and `syncDirectory()` makes the renames themselves durable: a publisher
    /// announces first and waits for the file system's journal after.
    public static func commitTogether(
        _ files: [AtomicFile], ifChanged: Bool = false, targetDigests: [String: String] = [:],
        syncDirectoryLater: Bool = false
    ) throws(SystemCallError) -> [Outcome] {
        var outcomes: [Outcome] = []
        do {
            for file in files {
                outcomes.append(try file.prepareCommit(ifChanged: ifChanged, targetDigest: targetDigests[file.target]))
            }
        } catch {
            for file in files { file.discard() }
            throw error
        }
        for (file, outcome) in zip(files, outcomes) where outcome == .replaced {
            try file.completeCommit(syncingDirectory: !syncDirectoryLater)
        }
        return outcomes
    }

    /// First phase: unless unchanged, fsync the data and give it a temporary name.
    private func prepareCommit(ifChanged: Bool, targetDigest: String?) throws(SystemCallError) -> Outcome {
        guard let file, let writer else { throw SystemCallError("commit", path: target, errno: .badFileDescriptor) }
        let written: Int64
        do {
            written = try writer.finish()
        } catch {
            discard()
            throw error
        }
        if ifChanged,
            targetDigest.map({ $0 == digest && targetHasSize(written) })
                ?? targetHoldsSameBytes(as: file, size: written)
        {
            discard()
            return .unchanged
        }
        try Linux.fsync(file, displayPath: target)
        if namedTemporary == nil {
            while true {
                let name = Self.temporaryNamePrefix(for: targetName) + Self.randomSuffix()
                do {
                    try Linux.linkTemporaryFile(file, into: directory, name: name)
                    namedTemporary = name
                    break
                } catch  where error.errno == .fileExists {
                    continue
                }
            }
        }
        return .replaced
    }

    /// Second phase: rename over the target and (unless the caller does it later) make
    /// the rename durable.
    private func completeCommit(syncingDirectory: Bool = true) throws(SystemCallError) {
        guard let temporaryName = namedTemporary else { return }
        do {
            try Linux.rename(temporaryName, to: targetName, in: directory)
        } catch {
            discard()
            throw error
        }
        namedTemporary = nil
        try? file?.close()
        file = nil
        if syncingDirectory { try syncDirectory() }
    }

    /// Makes the rename durable: it is on disk only once the directory entry is. Until
    /// then a crash brings back the previous file, whole (its replacement's bytes were
    /// fsynced before the rename). On ext4 this waits for a journal commit, which
    /// includes freeing the replaced file's blocks: 50-100 ms for a 100 MB list.
    public func syncDirectory() throws(SystemCallError) {
        try Linux.fsync(directory, displayPath: Self.split(target).directory)
    }

    /// Drops the new bytes; the target is left as it was.
    public func discard() {
        // A chunk still being written must not land in a descriptor number reused later.
        writer?.drain()
        writer = nil
        if let namedTemporary { try? Linux.unlink(namedTemporary, in: directory) }
        namedTemporary = nil
        try? file?.close()
        file = nil
    }

    private func targetHasSize(_ size: Int64) -> Bool {
        guard let existing = try? Linux.openat(directory, targetName, flags: O_RDONLY | O_NOFOLLOW) else {
            return false
        }
        defer { try? existing.close() }
        guard let info = try? Linux.fstat(existing, displayPath: target) else { return false }
        return info.st_mode & S_IFMT == S_IFREG && Int64(info.st_size) == size
    }

    private func targetHoldsSameBytes(as file: FileDescriptor, size written: Int64) -> Bool {
        guard let existing = try? Linux.openat(directory, targetName, flags: O_RDONLY | O_NOFOLLOW) else {
            return false
        }
        defer { try? existing.close() }
        guard let info = try? Linux.fstat(existing, displayPath: target), info.st_mode & S_IFMT == S_IFREG,
            Int64(info.st_size) == written
        else { return false }
        let chunk = 1 << 20
        let ours = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
        let theirs = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
        defer {
            ours.deallocate()
            theirs.deallocate()
        }
        var offset: Int64 = 0
        while offset < written {
            guard let a = try? file.read(fromAbsoluteOffset: offset, into: ours),
                let b = try? existing.read(fromAbsoluteOffset: offset, into: theirs),
                a == b, a > 0, memcmp(ours.baseAddress!, theirs.baseAddress!, a) == 0
            else { return false }
            offset += Int64(a)
        }
        return true
    }

    static func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let directory = path[..<slash]
        return (directory.isEmpty ? "/" : String(directory), String(path[path.index(after: slash)...]))
    }

    private static func randomSuffix() -> String {
        String(UInt64.random(in: 0...UInt64.max), radix: 36)
    }
}
