import Dispatch
import FileList

/// A module's new list and the old one installed by the last successful run.
///
/// Up to `concurrentLimit` bytes, both are parsed at once on two cores. Beyond it they
/// are parsed one after the other, old first, dropping its bytes before the new one is
/// read: measured on a million-line list, parallel parsing takes 0.47 s but peaks at
/// 409 MB, sequential 0.75 s and 283 MB (`Benchmarks/run.sh plan`).
public enum ListPair {
    public static let concurrentLimit = 32 << 20

    public static func parse(
        new bytes: [UInt8], source: String, oldFile: String
    ) throws(FileListError) -> (new: CompactFileList, old: CompactFileList?) {
        // An old list that no longer reads is treated as absent: a full sync, no deletions.
        let parseOld: @Sendable () -> CompactFileList? = {
            (try? ListFile.read(oldFile)).flatMap { try? CompactFileList(parsing: $0, keepBytes: false) }
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
