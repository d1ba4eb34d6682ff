import Synchronization

/// Runs prefetches at most `limit` at a time, in the order asked: a generation that
/// changes a thousand paths must not open a thousand upstream connections.
final class Prefetcher: Sendable {
    typealias Job = @Sendable () async -> Void
    private struct State {
        var queue: [Job] = []
        var running = 0
    }
    private let state = Mutex(State())
    let limit: Int
    let executor: any TaskExecutor

    init(limit: Int, executor: any TaskExecutor) {
        self.limit = max(1, limit)
        self.executor = executor
    }

    func submit(_ job: @escaping Job) {
        let start = state.withLock { state -> Bool in
            state.queue.append(job)
            guard state.running < limit else { return false }
            state.running += 1
            return true
        }
        if start { Task(executorPreference: executor) { [self] in await drain() } }
    }

    private func drain() async {
        while let job = state.withLock({ state -> Job? in
            guard !state.queue.isEmpty else {
                state.running -= 1
                return nil
            }
            return state.queue.removeFirst()
        }) {
            await job()
        }
    }
}
