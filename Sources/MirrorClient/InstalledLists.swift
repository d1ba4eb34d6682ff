import FileList
import Foundation
import LinuxCalls
import ListProtocol
import ListTransport
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// The records of the lists the last run installed (`TIMEFILE.lists`, beside the saved
/// ETags): what lets the next delta cost what changed (`InstalledListRecord`).
enum InstalledLists {
    static func path(timeFile: String) -> String { timeFile + ".lists" }

    /// The records whose list is still the installed one, by list path.
    static func load(timeFile: String, destination: String) -> [String: InstalledListRecord] {
        guard let data = FileManager.default.contents(atPath: path(timeFile: timeFile)),
            let records = InstalledListRecord.decode(Array(data))
        else { return [:] }
        var valid: [String: InstalledListRecord] = [:]
        for record in records where record.describes(root: destination) { valid[record.path] = record }
        return valid
    }

    /// Replaces the file (atomically): a record that does not describe its list is left out.
    static func save(_ records: [InstalledListRecord], timeFile: String, destination: String) throws {
        let kept = records.filter { $0.describes(root: destination) }.sorted { $0.path < $1.path }
        try Data(InstalledListRecord.encode(kept)).write(
            to: URL(fileURLWithPath: path(timeFile: timeFile)), options: .atomic)
    }
}

/// Applies a delta to the installed list where it lies: the new version is written beside
/// it from its unchanged ranges (copied inside the kernel) and the delta's lines, and its
/// digest is found from the installed list's recorded segments and the bytes around each
/// change. Nothing of the list is read but those bytes and the pages a binary search for
/// each edit touches.
enum ListDeltaOnDisk {
    static func apply(
        _ delta: FileListDelta, installed: String, record: InstalledListRecord, into target: String
    ) throws -> AppliedDelta {
        let source = try Linux.openat(nil, installed, flags: O_RDONLY)
        defer { try? source.close() }
        let size = Int(try Linux.fstat(source, displayPath: installed).st_size)
        guard record.segments.reduce(0, { $0 + $1.length }) == size else {
            throw SyncError("the record of '\(installed)' does not match its size")
        }
        let old = try MappedFile(source, size: size, displayPath: installed)
        let oldBytes = old.bytes.bindMemory(to: UInt8.self)
        guard let files = FilesSection.locate(in: oldBytes) else {
            throw SyncError("'\(installed)' has no [Files] section")
        }
        let splices = try delta.splices(in: oldBytes, files: files)
        let segments = ListSegmentRule.segments(of: old.bytes, oldSegments: record.segments, after: splices)
        guard ListDigest.combine(segments.map(\.digest)) == delta.result else {
            throw SyncError("the delta applied to '\(installed)' does not give the digest it names")
        }
        withExtendedLifetime(old) {}
        try write(from: source, size: size, splices: splices, to: target)
        return AppliedDelta(delta: delta, segments: segments, splices: splices, files: files)
    }

    private static func write(from source: FileDescriptor, size: Int, splices: [ListSplice], to target: String)
        throws(SystemCallError)
    {
        let output = try Linux.openat(nil, target, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o644)
        defer { try? output.close() }
        var read = 0
        var written: Int64 = 0
        var cloning = true
        func copy(upTo end: Int) throws(SystemCallError) {
            guard end > read else { return }
            try Linux.copySharingBlocks(
                from: source, at: Int64(read), to: output, at: written, count: Int64(end - read), cloning: &cloning,
                displayPath: target)
            written += Int64(end - read)
            read = end
        }
        for splice in splices {
            try copy(upTo: splice.range.lowerBound)
            if !splice.bytes.isEmpty {
                let bytes = splice.bytes
                let result = bytes.withUnsafeBytes { buffer in
                    Result { () throws(SystemCallError) in
                        try Linux.pwriteAll(output, buffer, at: written, displayPath: target)
                    }
                }
                try result.get()
                written += Int64(bytes.count)
            }
            read = splice.range.upperBound
        }
        try copy(upTo: size)
        // Written back while rsync runs, rather than when the list is renamed into place
        // (ext4 flushes a file renamed over another) or another file is synced.
        Linux.startWriteback(output, offset: 0, length: written)
    }
}
