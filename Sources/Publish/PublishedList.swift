import LinuxCalls
import ListProtocol
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// One version of a list, whole and held open: what a publisher hands to whoever serves
/// it, and what the next version copies its unchanged segments from. Its bytes never
/// change; a newer version is another file. The descriptor closes with the last holder.
public final class PublishedList: Sendable {
    /// The path the list has, or takes once it is durable.
    public let target: String
    public let descriptor: FileDescriptor
    public let size: Int
    /// The list digest (its ETag), and the segments it was combined from.
    public let digest: String
    public let segments: [ListSegment]
    /// The file's mode and modification time, as a mirror that installs it sets them.
    public let mode: UInt32
    public let modifiedSeconds: Int
    public let modifiedNanoseconds: Int
    /// Device and inode: a list replaced behind a reader's back is another inode.
    public let device: UInt64
    public let inode: UInt64

    init(target: String, descriptor: FileDescriptor, digest: String, segments: [ListSegment], info: stat) {
        self.target = target
        self.descriptor = descriptor
        self.digest = digest
        self.segments = segments
        size = Int(info.st_size)
        mode = UInt32(info.st_mode)
        modifiedSeconds = Int(info.st_mtim.tv_sec)
        modifiedNanoseconds = Int(info.st_mtim.tv_nsec)
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }

    deinit { try? descriptor.close() }

    /// Opens the list at `file` and computes its digest from its bytes: for a list this
    /// process did not write (an upstream's, installed by quick-mirror; a daemon's own
    /// from before a restart). Reads it once, in 1 MiB steps.
    public static func open(_ file: String) throws(SystemCallError) -> PublishedList {
        let descriptor = try Linux.openat(nil, file, flags: O_RDONLY)
        do throws(SystemCallError) {
            let info = try Linux.fstat(descriptor, displayPath: file)
            var digester = ListDigester()
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
            defer { buffer.deallocate() }
            var offset: Int64 = 0
            while offset < Int64(info.st_size) {
                let count = try Linux.pread(descriptor, into: buffer, offset: offset, displayPath: file)
                guard count > 0 else { throw SystemCallError("pread", path: file, errno: .ioError) }
                digester.update(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
                offset += Int64(count)
            }
            let (digest, segments) = digester.finish()
            return PublishedList(target: file, descriptor: descriptor, digest: digest, segments: segments, info: info)
        } catch {
            try? descriptor.close()
            throw error
        }
    }

    /// Opens the list at `file` as `record` describes it, without reading it: nil when
    /// the file is not the one described (another inode, size or time).
    public static func open(_ file: String, describedBy record: InstalledListRecord) throws(SystemCallError)
        -> PublishedList?
    {
        let descriptor = try Linux.openat(nil, file, flags: O_RDONLY)
        do throws(SystemCallError) {
            let info = try Linux.fstat(descriptor, displayPath: file)
            guard InstalledListRecord.identity(info) == record.identity, record.segments.reduce(0, { $0 + $1.length }) == Int(info.st_size)
            else {
                try? descriptor.close()
                return nil
            }
            return PublishedList(
                target: file, descriptor: descriptor, digest: record.digest, segments: record.segments, info: info)
        } catch {
            try? descriptor.close()
            throw error
        }
    }

    /// The bytes of a range of the list.
    public func bytes(at offset: Int, count: Int) throws(SystemCallError) -> [UInt8] {
        var failure: SystemCallError?
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, filled in
            do throws(SystemCallError) {
                filled = try Linux.preadFully(
                    descriptor, into: UnsafeMutableRawBufferPointer(buffer), offset: Int64(offset), displayPath: target)
            } catch {
                failure = error
                filled = 0
            }
        }
        if let failure { throw failure }
        guard bytes.count == count else { throw SystemCallError("pread", path: target, errno: .ioError) }
        return bytes
    }

    /// The whole list.
    public func bytes() throws(SystemCallError) -> [UInt8] { try bytes(at: 0, count: size) }
}
