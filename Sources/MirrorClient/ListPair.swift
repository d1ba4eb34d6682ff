import Dispatch
import FileList

/// A module's new list and the old one installed by the last successful run.
///
/// Up to `concurrentLimit` bytes, both are parsed at once on two cores. Beyond it they
/// are parsed one after the other (`Benchmarks/run.sh plan` on a million lines: 0.45 s
/// and about 400 MB at once, against 0.75 s and under 300 MB one after the other). The
/// old list keeps only its keys.
public enum ListPair {
    public static let concurrentLimit = 32 << 20

    public static func parse(
        new bytes: [UInt8], source: String, oldFile: String
    ) throws(FileListError) -> (new: CompactFileList, old: CompactFileList?) {
        // An old list that no longer reads is treated as absent: a full sync, no deletions.
        let parseOld: @Sendable () -> CompactFileList? = {
            (try? ListFile.read(oldFile)).flatMap { try? CompactFileList(parsing: $0, keysOnly: true) }
        }
        guard bytes.count <= concurrentLimit else {
            let old = parseOld()
            return (try CompactFileList(parsing: bytes, source: source), old)
        }
        nonisolated(unsafe) var new: Result<CompactFileList, FileListError>?
        nonisolated(unsafe) var old: CompactFileList?
        DispatchQueue.concurrentPerform(iterations: 2) { task in
            if task == 0 {
                new = Result { () throws(FileListError) in try CompactFileList(parsing: bytes, source: source) }
            } else {
                old = parseOld()
            }
        }
        return (try new!.get(), old)
    }
}
