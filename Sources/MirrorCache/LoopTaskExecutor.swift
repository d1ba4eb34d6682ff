import NIOCore
import Synchronization

/// Runs the cache's tasks (misses, fetches, prefetches) on its own event loop threads
/// rather than Swift's shared pool, which has one thread per core: in a process where
/// other work blocks those threads (a test run, an embedding program), a fetch must not
/// wait for one and look stalled to its own watchdog.
///
/// A task still running when the cache shuts its loops down (a fetch cut at the end of
/// the drain, a prefetch) would have its next step refused by a closed loop and never
/// resume; from `close()` on, its steps run on Swift's shared pool instead.
final class LoopTaskExecutor: TaskExecutor {
    let group: any EventLoopGroup
    private let closed = Mutex(false)

    init(group: any EventLoopGroup) { self.group = group }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let onLoop = closed.withLock { closed in
            guard !closed else { return false }
            let executor = asUnownedTaskExecutor()
            group.next().execute { job.runSynchronously(on: executor) }
            return true
        }
        if !onLoop { globalConcurrentExecutor.enqueue(job) }
    }

    /// Called before the loops are shut down.
    func close() { closed.withLock { $0 = true } }
}
