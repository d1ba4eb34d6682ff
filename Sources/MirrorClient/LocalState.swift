import FileList
import LinuxCalls
import SystemPackage
import TreeScan

#if canImport(Glibc)
    import Glibc
#endif

/// What the destination holds, for `-a`: every entry below a module directory, with
/// its kind and size, from the same parallel walk create-filelist uses. Unreadable
/// entries are included: a mirror's own files are compared whatever their mode.
enum LocalState {
    static func entries(below directory: String) -> [FileListEntry] {
        var entries: [FileListEntry] = []
        var options = ScanOptions()
        options.keepUnlistedSymlinks = true
        _ = try? ParallelWalk.run(
            root: directory, options: options, warn: { _ in },
            transform: { scanned in
                scanned.entries.map { entry in
                    FileListEntry(
                        time: entry.time, type: EntryType(entry.type.kind), size: entry.size,
                        path: scanned.childPath(entry))
                }
            },
            consume: { entries += $0 })
        return entries
    }
}

/// An open directory, closed when done.
final class FileDescriptorHandle {
    let descriptor: FileDescriptor
    init(path: String) throws {
        descriptor = try Linux.openat(nil, path, flags: O_RDONLY | O_DIRECTORY)
    }
    deinit { try? descriptor.close() }
}
