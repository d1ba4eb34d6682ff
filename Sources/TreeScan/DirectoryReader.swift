import CLinuxFS
import FileList
import LinuxCalls
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Reads one directory with `getdents64` and `statx` relative to its descriptor, and
/// applies the listing rules. One reader per worker thread: it owns a reusable buffer.
public struct DirectoryReader: ~Copyable {
    private let buffer: UnsafeMutableRawBufferPointer
    private let options: ScanOptions
    private let hasher: FileHasher

    public init(options: ScanOptions) {
        // 256 KiB holds a few thousand records: one getdents64 call for most directories.
        buffer = .allocate(byteCount: 256 * 1024, alignment: 8)
        self.options = options
        hasher = FileHasher(algorithms: options.algorithms)
    }

    deinit { buffer.deallocate() }

    public func read(
        root: FileDescriptor, path: [UInt8], underRestrictedDirectory: Bool, hidden: Bool = false,
        warn: (ScanWarning) -> Void, directoryOpened: ((FileDescriptor, [UInt8]) -> Void)? = nil
    ) -> ScannedDirectory {
        var result = ScannedDirectory(path: path, underRestrictedDirectory: underRestrictedDirectory)
        let directory: FileDescriptor
        // Paths are bytes that need not be UTF-8, so they cannot go through String.
        let cPath = UnsafeMutablePointer<CChar>.allocate(capacity: path.count + 2)
        defer { cPath.deallocate() }
        if path.isEmpty {
            cPath[0] = 0x2E
            cPath[1] = 0
        } else {
            path.withUnsafeBytes {
                UnsafeMutableRawPointer(cPath).copyMemory(from: $0.baseAddress!, byteCount: path.count)
            }
            cPath[path.count] = 0
        }
        do {
            directory = try Linux.openDirectory(root, cPath, displayPath: display(path))
        } catch {
            result.readError = error.errno
            // A directory removed while the scan runs is not worth a warning, nor a hidden
            // one that a daemon without root may not read (it lists nothing from there).
            if error.errno != .noSuchFileOrDirectory && !(hidden && error.errno == .permissionDenied) {
                warn(.cannotReadDirectory(path: display(path), errno: error.errno))
            }
            return result
        }
        defer { try? directory.close() }
        // A watcher adds its watch here, before the first getdents64: an entry created
        // after this point is either read below or reported by the new watch.
        directoryOpened?(directory, path)

        let isTop = path.isEmpty
        var info = qm_stat()
        while true {
            let count: Int
            do {
                count = try Linux.getdents64(directory, into: buffer, displayPath: display(path))
            } catch {
                result.readError = error.errno
                warn(.cannotReadDirectory(path: display(path), errno: error.errno))
                break
            }
            if count == 0 { break }
            // Records average about 40 bytes; growing arrays entry by entry shows in profiles.
            result.entries.reserveCapacity(result.entries.count + count / 32)
            result.names.reserveCapacity(result.names.count + count / 2)
            var offset = 0
            while offset < count {
                let record = buffer.baseAddress! + offset
                offset += Int(record.loadUnaligned(fromByteOffset: 16, as: UInt16.self))
                let namePointer = (record + 19).assumingMemoryBound(to: CChar.self)
                let name = UnsafeBufferPointer(
                    start: UnsafeRawPointer(namePointer).assumingMemoryBound(to: UInt8.self), count: strlen(namePointer)
                )
                if isDotOrDotDot(name) { continue }
                // Below a hidden directory, and `.~tmp~` and `.nfs*` themselves: never
                // listed, but a watcher keeps them, as they may be names of a hard-linked
                // inode (an unlink of a silly-renamed `.nfs` name changes the ctime of
                // the listed names).
                let unlisted = hidden || EntryRules.isAlwaysSkipped(name)
                if unlisted && !options.keepHiddenEntries { continue }
                if isTop && isSkippedAtTop(name) { continue }
                if EntryRules.isUnlistable(name) {
                    if !unlisted { warn(.unlistableName(path: display(path, name))) }
                    continue
                }
                if let error = Linux.statx(directory, namePointer, followSymlink: false, into: &info) {
                    if error != .noSuchFileOrDirectory && !unlisted {
                        warn(.cannotStat(path: display(path, name), errno: error))
                    }
                    continue
                }
                let mode = info.mode
                let kind = EntryRules.kind(mode: mode)
                var isListed = !unlisted
                if unlisted {
                    // Kept without a line, whatever its mode or target.
                } else if kind == .symlink {
                    var target = qm_stat()
                    if Linux.statx(directory, namePointer, followSymlink: true, into: &target) != nil {
                        warn(.danglingSymlink(path: display(path, name)))
                        isListed = false
                    } else {
                        isListed = EntryRules.isListed(modeOfEntryOrTarget: target.mode)
                    }
                    if !isListed && !options.keepUnlistedSymlinks { continue }
                } else if !EntryRules.isListed(modeOfEntryOrTarget: mode) {
                    if !options.keepHiddenEntries { continue }
                    isListed = false
                }

                let isRegular = EntryRules.isRegularFile(mode: mode)
                let entry = ScannedEntry(
                    nameStart: UInt32(result.names.count), nameLength: UInt32(name.count),
                    type: EntryType(
                        kind, EntryRules.access(mode: mode, underRestrictedDirectory: underRestrictedDirectory)),
                    mode: mode,
                    time: max(info.mtime, info.ctime),
                    size: kind == .file && !isRegular ? 0 : Int64(info.size),
                    device: UInt64(info.dev_major) << 32 | UInt64(info.dev_minor),
                    inode: info.inode, linkCount: info.nlink, isListed: isListed)
                result.names.append(contentsOf: name)
                result.entries.append(entry)
                if isListed && isRegular && wantsChecksum(name) {
                    let childPath = result.childPath(entry)
                    do {
                        let hex = try hasher.digests(of: namePointer, in: directory, displayPath: display(childPath))
                        result.checksums.append(FileChecksum(path: childPath, hex: hex))
                    } catch {
                        warn(.cannotChecksum(path: error.path, errno: error.errno))
                    }
                }
            }
        }
        // After the entries: a change made since the watch was added raises an event, so
        // what this reports is at least as new as anything the parent's read saw.
        if result.readError == nil && Linux.statx(directory, ".", followSymlink: false, into: &info) == nil {
            result.ownTimeAndSize = (max(info.mtime, info.ctime), Int64(info.size))
        }
        sortByName(&result)
        return result
    }

    /// Sorts children by name bytes. Most names differ in their first eight bytes, so
    /// those are compared as one big-endian integer and memcmp runs only on ties; names
    /// hold no NUL byte, so zero padding orders a prefix first, as memcmp would.
    private func sortByName(_ directory: inout ScannedDirectory) {
        let entries = directory.entries
        guard entries.count > 1 else { return }
        // Sorting 16-byte (key, index) pairs and permuting once beats moving entries around.
        var order = directory.names.withUnsafeBufferPointer { arena in
            let base = arena.baseAddress!
            var keys = [(key: UInt64, index: UInt32)]()
            keys.reserveCapacity(entries.count)
            for (index, entry) in entries.enumerated() {
                var key: UInt64 = 0
                let start = base + Int(entry.nameStart)
                let length = Int(entry.nameLength)
                for byte in 0..<8 {
                    key = key << 8 | (byte < length ? UInt64(start[byte]) : 0)
                }
                keys.append((key, UInt32(index)))
            }
            keys.sort { a, b in
                if a.key != b.key { return a.key < b.key }
                let x = entries[Int(a.index)]
                let y = entries[Int(b.index)]
                let common = Int(min(x.nameLength, y.nameLength))
                if common > 8 {
                    let order = memcmp(base + Int(x.nameStart) + 8, base + Int(y.nameStart) + 8, common - 8)
                    if order != 0 { return order < 0 }
                }
                return x.nameLength < y.nameLength
            }
            return keys
        }
        directory.entries.withUnsafeMutableBufferPointer { sorted in
            for position in order.indices { sorted[position] = entries[Int(order[position].index)] }
        }
        order.removeAll()
    }

    /// Runs for every regular file, so it compares bytes in place rather than building
    /// an Array to look up in a Set: that allocation alone cost 5% of a scan.
    private func wantsChecksum(_ name: UnsafeBufferPointer<UInt8>) -> Bool {
        options.checksumNames.contains { $0.count == name.count && $0.elementsEqual(name) }
    }

    private func isSkippedAtTop(_ name: UnsafeBufferPointer<UInt8>) -> Bool {
        if !options.topLevelSkips.isEmpty && options.topLevelSkips.contains(Array(name)) { return true }
        return options.topLevelSkipPrefixes.contains { name.starts(with: $0) }
    }

    private func isDotOrDotDot(_ name: UnsafeBufferPointer<UInt8>) -> Bool {
        name[0] == 0x2E && (name.count == 1 || (name.count == 2 && name[1] == 0x2E))
    }

    private func display(_ path: [UInt8], _ name: UnsafeBufferPointer<UInt8>? = nil) -> String {
        var bytes = path
        if let name {
            if !bytes.isEmpty { bytes.append(0x2F) }
            bytes.append(contentsOf: name)
        }
        return bytes.isEmpty ? "." : String(decoding: bytes, as: UTF8.self)
    }
}
