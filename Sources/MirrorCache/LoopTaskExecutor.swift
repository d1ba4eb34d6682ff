import NIOCore

/// Runs the cache's tasks (misses, fetches, prefetches) on its own event loop threads
/// rather than Swift's shared pool, which has one thread per core: in a process where
/// other work blocks those threads (a test run, an embedding program), a fetch must not
/// wait for one and look stalled to its own watchdog.
final class LoopTaskExecutor: TaskExecutor {
    let group: any EventLoopGroup

    init(group: any EventLoopGroup) { self.group = group }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        group.next().execute { job.runSynchronously(on: executor) }
    }
}
