import Dispatch

/// A thread of the listing's own: the whole suite runs in parallel, and many tests
/// block Swift's few cooperative threads for long stretches (waiting on processes,
/// polling logs with usleep). A listing run on that pool waits its turn for minutes
/// and misses every deadline a test sets; on its own queue it runs as it would in a
/// server whose threads are not held.
final class DedicatedExecutor: TaskExecutor {
    private let queue = DispatchQueue(label: "upstream-listing-test")

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }
}
