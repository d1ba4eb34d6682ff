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
///
/// Every 16 MB, a third thread makes what is written so far durable (`fdatasync`) while
/// the rendering goes on. Starting the writeback was not enough: an fsync costs in
/// proportion to what was written since the last one, even once the writeback is done
/// (on the virtual disk of the development machine, 0.12 s for a 95 MB list whose
/// `Dirty` and `Writeback` pages were already 0). Done in steps, the final fsync waits
/// for the last step only (0.02-0.03 s). The file has no name until after that final
/// fsync, so a crash in between leaves nothing behind.
final class BackgroundWriter: Sendable {
    private let file: FileDescriptor
    private let displayPath: String
    private let queue = DispatchQueue(label: "quickmirror.background-writer")
    private let flushQueue = DispatchQueue(label: "quickmirror.background-flush")
    /// Chunks given but not written yet, at most this many: a disk slower than the
    /// rendering makes the caller wait instead of holding the whole list in memory.
    private let inFlight = DispatchSemaphore(value: 8)
    private struct Progress {
        var written: Int64 = 0
        var writebackStarted: Int64 = 0
        var flushRequested: Int64 = 0
        var flushing = false
        var flushesStopped = false
        var failure: SystemCallError?
    }
    private let progress = Mutex(Progress())
    /// Writeback is started every few MB while the rendering still runs, so the final
    /// fsync waits only for the last chunks.
    private static let writebackChunk: Int64 = 8 << 20
    private static let flushChunk: Int64 = 16 << 20

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
            let (range, flush): ((Int64, Int64)?, Bool) = progress.withLock { progress in
                progress.written += Int64(bytes.count)
                var flush = false
                if !progress.flushing, !progress.flushesStopped,
                    progress.written - progress.flushRequested >= Self.flushChunk
                {
                    (progress.flushing, progress.flushRequested, flush) = (true, progress.written, true)
                }
                guard progress.written - progress.writebackStarted >= Self.writebackChunk else { return (nil, flush) }
                defer { progress.writebackStarted = progress.written }
                return ((progress.writebackStarted, progress.written - progress.writebackStarted), flush)
            }
            if let (offset, length) = range { Linux.startWriteback(file, offset: offset, length: length) }
            if flush { flushQueue.async { self.flushWritten() } }
        }
    }

    /// On the flush queue: makes the bytes written so far durable. A failure counts as a
    /// failed write: the kernel reports a writeback error once per open file, so the
    /// final fsync would not see it again.
    private func flushWritten() {
        let stopped = progress.withLock { $0.flushesStopped }
        var failure: SystemCallError?
        if !stopped {
            do throws(SystemCallError) {
                try Linux.fdatasync(file, displayPath: displayPath)
            } catch {
                failure = error
            }
        }
        progress.withLock { progress in
            progress.flushing = false
            if let failure, progress.failure == nil { progress.failure = failure }
        }
    }

    /// Waits for every chunk given so far; throws the first failure. Returns the bytes written.
    /// No step's flush runs after this returns: the caller's fsync covers the rest.
    @discardableResult
    func finish() throws(SystemCallError) -> Int64 {
        queue.sync {}
        stopFlushes()
        let state = progress.withLock { $0 }
        if let failure = state.failure { throw failure }
        return state.written
    }

    /// Waits for the chunks and the flush in flight without reporting: before the file
    /// is closed.
    func drain() {
        queue.sync {}
        stopFlushes()
    }

    /// A flush asked for but not started is skipped; one running is waited for.
    private func stopFlushes() {
        progress.withLock { $0.flushesStopped = true }
        flushQueue.sync {}
    }
}
