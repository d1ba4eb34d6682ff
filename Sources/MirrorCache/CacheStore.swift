import Foundation
import LinuxCalls
import NIOCore
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// The cache directory: complete objects at `<dir>/<key>`, what their fetch learned at
/// `<dir>/.meta/<key>` (its modification time is when the object was last validated),
/// fetches in progress in `<dir>/.partial/`. Keys come from `RequestTarget`, so every
/// name below is checked; files are opened without following a final symlink.
public final class CacheStore: Sendable {
    public let directory: String
    let recency: RecencyIndex
    let maxSize: Int64?
    let minFree: Int64?
    let hot: HotObjects

    /// What a fetch learned about an object besides its bytes.
    public struct Validators: Sendable, Equatable {
        public var etag: String?
        public var lastModified: String?
        public var sha256: String?
    }

    /// `memory`: bytes of small objects kept in memory for hits (0: none).
    public init(directory: String, maxSize: Int64?, minFree: Int64?, memory: Int = 0) throws {
        self.directory = directory.hasSuffix("/") && directory.count > 1 ? String(directory.dropLast()) : directory
        self.maxSize = maxSize
        self.minFree = minFree
        hot = HotObjects(budget: memory)
        recency = RecencyIndex()
        for sub in ["", "/.partial", "/.meta", "/reverse", "/proxy"] {
            try Self.makeDirectories(self.directory + sub)
        }
        // A fetch cut by a crash or restart is not resumed: its bytes were never verified.
        let partial = self.directory + "/.partial"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: partial)) ?? [] {
            try? Linux.removeFile(partial + "/" + name)
        }
        rebuildRecency()
    }

    func path(_ key: String) -> String { directory + "/" + key }
    func metaPath(_ key: String) -> String { directory + "/.meta/" + key }

    /// The complete object, opened for reading (not following a symlink), with its stat.
    func openComplete(_ key: String) -> (SystemPackage.FileDescriptor, stat)? {
        Linux.openRegularFile(path(key))
    }

    /// A complete object for a hit: its stat, and its body in memory (small objects) or
    /// its file opened for reading (which the caller then owns).
    struct Hit {
        enum Body {
            case memory(ByteBuffer)
            case file(SystemPackage.FileDescriptor)
        }
        let info: stat
        let body: Body
        /// The ETag field's text, when memory holds it ready.
        var etag: String?
    }

    /// The object for a hit, when `isFresh` says its stat may be served: kept in memory
    /// from an earlier hit, or read now (and kept when small). Marks it used in the
    /// recency order. A copy that is not fresh is neither read nor marked: its request
    /// fetches it again.
    func openForHit(_ key: String, isFresh: (stat) -> Bool) -> Hit? {
        let now = time(nil)
        if let (object, touch) = hot.lookup(key, now: now) {
            guard isFresh(object.info) else { return nil }
            if touch { recency.touch(key) }
            return Hit(info: object.info, body: .memory(object.body), etag: object.etag)
        }
        let mark = hot.mark
        guard let (descriptor, info) = openComplete(key) else { return nil }
        guard isFresh(info) else {
            try? descriptor.close()
            return nil
        }
        recency.touch(key)
        let size = Int64(info.st_size)
        guard hot.isEnabled, size <= HotObjects.sizeLimit else { return Hit(info: info, body: .file(descriptor)) }
        defer { try? descriptor.close() }
        // NIO allocates in powers of two; the memory's budget counts what is allocated.
        var body = ByteBufferAllocator().buffer(capacity: Int(size))
        let count = body.writeWithUnsafeMutableBytes(minimumWritableBytes: Int(size)) { raw in
            (try? Linux.preadFully(
                descriptor, into: UnsafeMutableRawBufferPointer(rebasing: raw[..<Int(size)]), offset: 0,
                displayPath: key)) ?? 0
        }
        // A file shorter than its stat (damaged behind the cache's back) is not served.
        guard count == Int(size) else { return nil }
        let object = HotObjects.Object(
            info: info, body: body, etag: ResponseFields.etag(mtime: Int64(info.st_mtim.tv_sec), size: size))
        hot.insert(key, object, read: now, mark: mark)
        return Hit(info: info, body: .memory(body), etag: object.etag)
    }

    func validators(_ key: String) -> Validators? {
        guard let text = try? String(contentsOfFile: metaPath(key), encoding: .utf8) else { return nil }
        var result = Validators()
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let value = String(line[line.index(after: colon)...].drop { $0 == " " })
            switch line[..<colon] {
            case "etag": result.etag = value
            case "last-modified": result.lastModified = value
            case "sha256": result.sha256 = value
            default: break
            }
        }
        return result
    }

    /// Seconds since the object was last fetched or revalidated; nil without a record.
    func age(_ key: String) -> Int64? {
        guard let info = Linux.statPath(metaPath(key)) else { return nil }
        return Int64(time(nil)) - Int64(info.st_mtim.tv_sec)
    }

    /// After a `304`: the copy is good for another `--volatile-ttl`.
    func markValidated(_ key: String) throws {
        try Linux.touch(metaPath(key))
    }

    /// A new file for a fetch in progress, and its name.
    func makePartial() throws -> (SystemPackage.FileDescriptor, String) {
        let name = directory + "/.partial/" + UUID().uuidString
        let fd = try Linux.openat(nil, name, flags: O_RDWR | O_CREAT | O_EXCL, mode: 0o644)
        return (fd, name)
    }

    /// Gives a verified partial file its final name: data on disk first (fsync), then the
    /// record, then the atomic rename over any older copy.
    func commit(
        partial: String, descriptor: SystemPackage.FileDescriptor, key: String, mtime: Int64?, size: Int64,
        validators: Validators, stillWanted: () -> Bool = { true }
    ) throws {
        if let mtime { try Linux.setTimes(descriptor, seconds: mtime, displayPath: partial) }
        try Linux.fsync(descriptor, displayPath: partial)
        // A list generation that named the object during the fsync made these bytes old.
        guard stillWanted() else { return }
        let target = path(key)
        try Self.makeDirectories(Self.parent(target))
        let meta = metaPath(key)
        try Self.makeDirectories(Self.parent(meta))
        var record = ""
        if let etag = validators.etag { record += "etag: \(etag)\n" }
        if let lastModified = validators.lastModified { record += "last-modified: \(lastModified)\n" }
        if let sha256 = validators.sha256 { record += "sha256: \(sha256)\n" }
        try Data(record.utf8).write(to: URL(fileURLWithPath: meta), options: .atomic)
        try Linux.rename(partial, over: target)
        hot.drop(key)
        recency.insert(key, size: size)
    }

    /// Drops an object (and its record); returns the bytes freed.
    @discardableResult
    func remove(_ key: String) -> Int64 {
        // Either file may be gone already (never stored, or removed by hand): nothing to free.
        try? Linux.removeFile(metaPath(key))
        let freed = recency.remove(key)
        try? Linux.removeFile(path(key))
        hot.drop(key)
        return freed
    }

    /// Frees room for `bytes` more by evicting the least recently used objects; false
    /// when even that is not enough (the caller passes the body through without storing).
    func makeRoom(for bytes: Int64, evicted: (Int) -> Void) -> Bool {
        var count = 0
        defer { if count > 0 { evicted(count) } }
        while !hasRoom(for: bytes) {
            guard let victim = recency.leastRecent() else { return false }
            remove(victim)
            count += 1
        }
        return true
    }

    private func hasRoom(for bytes: Int64) -> Bool {
        if let maxSize, recency.totalBytes + bytes > maxSize { return false }
        guard let free = try? Linux.availableSpace(directory) else { return false }
        // Without --min-free the disk itself is the limit; a little slack for the records.
        return free - bytes >= (minFree ?? 0) + 64 * 1024
    }

    private func rebuildRecency() {
        var found: [(String, Int64, Int64)] = []
        for top in ["reverse", "proxy"] {
            guard let walker = FileManager.default.enumerator(atPath: directory + "/" + top) else { continue }
            while let relative = walker.nextObject() as? String {
                let key = top + "/" + relative
                guard let info = Linux.lstatPath(path(key)), (info.st_mode & S_IFMT) == S_IFREG else { continue }
                found.append((key, Int64(info.st_size), Int64(info.st_mtim.tv_sec)))
            }
        }
        for (key, size, _) in found.sorted(by: { $0.2 < $1.2 }) { recency.insert(key, size: size) }
    }

    /// The directory part of a path, found as bytes: a `/` followed by a combining mark
    /// is one Character with it, and `lastIndex(of: "/")` would pass it by.
    static func parent(_ path: String) -> String {
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return "." }
        return String(path[..<slash])
    }

    static func makeDirectories(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw SystemCallError("mkdir", path: path, errno: .notDirectory)
        }
    }
}
