import FileList

/// The rules of FORMAT.md that decide whether and how an entry is listed, apart from I/O.
public enum EntryRules {
    /// Names left out wherever they are: rsync's `--delay-updates` staging directory and
    /// NFS silly-rename files.
    @inlinable
    public static func isAlwaysSkipped(_ name: UnsafeBufferPointer<UInt8>) -> Bool {
        if name.count == 6 && name.elementsEqual(delayUpdatesDirectory) { return true }
        return name.count >= 4 && name[0] == 0x2E && name[1] == 0x6E && name[2] == 0x66 && name[3] == 0x73
    }

    /// A newline ends a line and a TAB separates fields; either in a name breaks the list.
    @inlinable
    public static func isUnlistable(_ name: UnsafeBufferPointer<UInt8>) -> Bool {
        name.contains { $0 == 0x0A || $0 == 0x09 }
    }

    /// `.~tmp~`: staging directory of `rsync --delay-updates`.
    public static let delayUpdatesDirectory: [UInt8] = Array(".~tmp~".utf8)

    /// Whether an entry with this mode is listed. The group bit decides, not the world
    /// bit (mirrors serve through a group-readable account); for a symlink the caller
    /// passes the target's mode.
    @inlinable
    public static func isListed(modeOfEntryOrTarget mode: UInt32) -> Bool { mode & 0o040 != 0 }

    /// The suffix: `-` for an entry that is not world-readable, else `*` below a
    /// directory that is not, else none. A symlink's own mode is always 0777.
    @inlinable
    public static func access(mode: UInt32, underRestrictedDirectory: Bool) -> EntryAccess {
        if mode & 0o004 == 0 { return .notWorldReadable }
        return underRestrictedDirectory ? .restrictedSubtree : .open
    }

    /// The letter for a file type from `st_mode`. Fifos, sockets and devices are listed as
    /// plain files of size 0, as the reference does.
    @inlinable
    public static func kind(mode: UInt32) -> EntryKind {
        switch mode & 0o170000 {
        case 0o040000: .directory
        case 0o120000: .symlink
        default: .file
        }
    }

    @inlinable
    public static func isRegularFile(mode: UInt32) -> Bool { mode & 0o170000 == 0o100000 }

    /// Images for `-i`: install media and cloud images, the files a download page links.
    public static let imageSuffixes: [[UInt8]] = [
        ".iso", ".qcow2", ".raw.xz", ".raw.gz", ".img", ".img.xz", ".vhd.xz", ".vhdfixed.xz",
        ".vmdk", ".box",
    ].map { Array($0.utf8) }

    public static func isImage(_ name: UnsafeBufferPointer<UInt8>) -> Bool {
        imageSuffixes.contains { suffix in
            name.count > suffix.count && name[(name.count - suffix.count)...].elementsEqual(suffix)
        }
    }
}
