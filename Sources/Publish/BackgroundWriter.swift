import Dispatch
import LinuxCalls
import Synchronization
import SystemPackage

/// Writes chunks to a file on a thread of its own, so the caller renders the next chunk
/// while the kernel copies the previous one into the page cache and starts its
/// writeback. For a 100 MB list that copy costs as much as the rendering; done in turn,
/// the two made a new list wait a third of a second longer for its rename.
///
/// A failed write is reported by the next `write` or by `finish`, never dropped: the
/// caller must call `finish` (and see it succeed) before the file counts as written.
final class BackgroundWriter: Sendable {
    private let file: FileDescriptor
    private let displayPath: String
    private let queue = DispatchQueue(label: "quickmirror.background-writer")
    /// Chunks given but not written yet, at most this many: a disk slower than the
    /// rendering makes the caller wait instead of holding the whole list in memory.
    private let inFlight = DispatchSemaphore(value: 8)
    private struct Progress {
        var written: Int64 = 0
        var writebackStarted: Int64 = 0
        var failure: SystemCallError?
    }
    private let progress = Mutex(Progress())
    /// Writeback is started every few MB while the rendering still runs, so the final
    /// fsync waits only for the last chunks.
    private static let writebackChunk: Int64 = 8 << 20

    init(file: FileDescriptor, displayPath: String) {
        self.file = file
        self.displayPath = displayPath
    }

    func write(_ bytes: [UInt8]) throws(SystemCallError) {
        if let failure = progress.withLock({ $0.failure }) { throw failure }
        inFlight.wait()
        queue.async { [self] in
            defer { inFlight.signal() }
            guard progress.withLock({ $0.failure == nil }) else { return }
            let failure = bytes.withUnsafeBytes { buffer -> SystemCallError? in
                do throws(SystemCallError) {
                    try Linux.writeAll(file, buffer, displayPath: displayPath)
                    return nil
                } catch {
                    return error
                }
            }
            if let failure {
                progress.withLock { $0.failure = failure }
                return
            }
            let range: (Int64, Int64)? = progress.withLock { progress in
                progress.written += Int64(bytes.count)
                guard progress.written - progress.writebackStarted >= Self.writebackChunk else { return nil }
                defer { progress.writebackStarted = progress.written }
                return (progress.writebackStarted, progress.written - progress.writebackStarted)
            }
            if let (offset, length) = range { Linux.startWriteback(file, offset: offset, length: length) }
        }
    }

    /// Waits for every chunk given so far; throws the first failure. Returns the bytes written.
    @discardableResult
    func finish() throws(SystemCallError) -> Int64 {
        queue.sync {}
        let state = progress.withLock { $0 }
        if let failure = state.failure { throw failure }
        return state.written
    }

    /// Waits for the chunks in flight without reporting: before the file is closed.
    func drain() { queue.sync {} }
}
