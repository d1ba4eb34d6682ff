import Foundation
import LinuxCalls
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// Where a run stages the lists it fetches and the path lists it hands rsync:
/// `DESTD/.quick-mirror-staging`, on the mirror's own file system, so that a new list is
/// installed by a rename and an unchanged one is seeded for rsync by a hard link.
///
/// Making it and removing it leave the mirror's top directory as they found it: its
/// access and modification times are put back after each, so a run that refuses a list
/// or trips the deletion guard leaves the mirror byte- and time-identical (a mirror
/// compared with its upstream, `rsync -a` one tier down, a monitoring check on the top
/// directory's mtime all see nothing), and a run that goes on changes DESTD's times only
/// by what it does to the mirror itself. Only its change time (ctime) moves, which no
/// call can set. Setting the times needs the directory's owner (or CAP_FOWNER): a run as
/// another user says once that it cannot, and goes on.
struct StagingArea {
    let path: String
    private let destination: String

    init(in destination: String, logger: Logger) throws(SyncError) {
        self.destination = destination
        path = "\(destination)/.quick-mirror-staging"
        let path = self.path
        var made: SyncError?
        let kept = Self.keepingTimes(of: destination) {
            // What a run that died left behind.
            try? FileManager.default.removeItem(atPath: path)
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            } catch {
                made = SyncError("cannot create '\(path)': \(error.localizedDescription)")
            }
        }
        if let made { throw made }
        if case .failure(let error) = kept {
            logger.warning(
                "cannot keep the times of \(destination) while staging: \(error.errno); its mtime changes at each run",
                metadata: ["item": "e"])
        }
    }

    /// Removes the area, whatever it holds.
    func remove() {
        // Clean-up only: a staging area left behind is removed by the next run, and a
        // time that cannot be set was said when the area was made.
        _ = Self.keepingTimes(of: destination) { try? FileManager.default.removeItem(atPath: path) }
    }

    /// Runs `body`, then gives `directory` back the access and modification times it had
    /// before: what `body` does to its entries is then invisible in its times.
    private static func keepingTimes(of directory: String, _ body: () -> Void) -> Result<Void, SystemCallError> {
        let before = Linux.statPath(directory)
        body()
        guard let before else { return .success(()) }
        return Result { () throws(SystemCallError) in
            try Linux.setTimes(directory, access: before.st_atim, modification: before.st_mtim)
        }
    }
}
