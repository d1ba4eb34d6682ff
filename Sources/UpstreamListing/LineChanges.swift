import FileList

/// The entry paths of files and symlinks whose line changed, appeared or disappeared
/// between two versions of one list: what a cache must drop, and nothing else.
///
/// The lines are matched by `InStepDiff` (identical runs skipped with `memcmp`, the
/// rest by path key; the same pairing as `FileListDiff`, which takes over when the two
/// versions diverge too far). Its line-level answer is then read for a cache:
/// - a directory line is no request path: it counts only where it replaced a file or a
///   symlink (that path is removed), or was replaced by one (changed);
/// - a line whose checksum alone changed (rewritten within its second, same size) is
///   changed too: the checksum is what a cached copy is verified against.
struct LineChanges: Equatable {
    var changed: [[UInt8]] = []
    var removed: [[UInt8]] = []

    init(old: ListedLines, new: ListedLines) {
        var changedLines: [Int] = []
        var removedLines: [(type: EntryType, path: [UInt8])] = []
        switch InStepDiff.compare(new: new.list, oldReading: Self.reader(old.list.bytes)) {
        case .compared(let diff):
            changedLines = diff.addedOrChanged
            removedLines = diff.removed
        case .diverged, .oldUnusable:
            // The old version was read as strictly as the new one when it was installed:
            // `oldUnusable` cannot come from it; both go the sorted-keys way.
            let diff = FileListDiff(old: old.list, new: new.list)
            changedLines = diff.addedOrChanged
            removedLines = diff.removed.map { (old.list.type($0), Array(old.list.path($0))) }
        }
        for index in changedLines {
            let path = Array(new.list.path(index))
            if ListedLines.isListed(new.list.type(index).kind) {
                changed.append(path)
            } else if old.line(path) != nil, new.line(path) == nil {
                removed.append(path)
            }
        }
        for (type, path) in removedLines where ListedLines.isListed(type.kind) && new.line(path) == nil {
            removed.append(path)
        }
        // Checksums name few paths: compared whole.
        var seen = Set(changed)
        let (oldSums, newSums) = (old.sha256ByPath, new.sha256ByPath)
        for path in Set(oldSums.keys).union(newSums.keys) where oldSums[path] != newSums[path] {
            guard !seen.contains(path), let before = old.fingerprint(path), let after = new.fingerprint(path),
                before.type == after.type
            else { continue }
            seen.insert(path)
            changed.append(path)
        }
    }

    /// Reads `bytes` from the start, piece by piece, as `InStepDiff` asks for the old list.
    private static func reader(_ bytes: [UInt8]) -> (UnsafeMutableRawBufferPointer) -> Int {
        final class Cursor { var offset = 0 }
        let cursor = Cursor()
        return { buffer in
            let count = min(buffer.count, bytes.count - cursor.offset)
            guard count > 0 else { return 0 }
            bytes.withUnsafeBytes { source in
                buffer.copyMemory(
                    from: UnsafeRawBufferPointer(rebasing: source[cursor.offset..<(cursor.offset + count)]))
            }
            cursor.offset += count
            return count
        }
    }
}
