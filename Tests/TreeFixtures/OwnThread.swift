import Dispatch
import Foundation
import Synchronization
import Testing

/// Runs each test of a suite on a thread of its own instead of Swift's cooperative pool.
///
/// The pool has as many threads as cores (two here). Most of these tests block: they
/// run commands, wait for child processes, poll logs with `usleep`. Two such tests held
/// both threads, and every other test's tasks (an in-process listing, a cache's
/// handlers, a test's own awaits) waited minutes for a turn and missed their
/// deadlines; CI failed on a test that was starved, not wrong. On a queue of its own a
/// test may block as it likes. At most `width` tests run at once
/// (`QUICKMIRROR_TEST_WIDTH`, default 6), so that a suite of spawned daemons does not
/// bury two cores.
public struct OwnThread: TestTrait, SuiteTrait, TestScoping {
    public var isRecursive: Bool { true }

    public func scopeProvider(for test: Test, testCase: Test.Case?) -> OwnThread? {
        testCase == nil ? nil : self
    }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        // A suite nested in a suite that has the trait: one slot and one thread suffice.
        guard !Self.inScope else { return try await function() }
        await TestSlots.shared.acquire()
        defer { TestSlots.shared.release() }
        try await Self.$inScope.withValue(true) {
            try await withTaskExecutorPreference(QueueExecutor(label: test.name)) { try await function() }
        }
    }

    @TaskLocal private static var inScope = false
}

extension Trait where Self == OwnThread {
    /// Each test of the suite on a thread of its own; see `OwnThread`.
    public static var ownThread: Self { OwnThread() }
}

/// A serial dispatch queue as a task's executor: its thread is one of dispatch's, never
/// one of the cooperative pool's. Child tasks (`async let`, groups) share it; tasks made
/// with `Task {}` do not.
public final class QueueExecutor: TaskExecutor {
    private let queue: DispatchQueue

    public init(label: String) { queue = DispatchQueue(label: label) }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }
}

/// How many tests hold a thread at once.
final class TestSlots: Sendable {
    static let shared = TestSlots(
        width: ProcessInfo.processInfo.environment["QUICKMIRROR_TEST_WIDTH"].flatMap(Int.init) ?? 6)

    private struct State {
        var free: Int
        var waiting: [CheckedContinuation<Void, Never>] = []
    }
    private let state: Mutex<State>

    init(width: Int) { state = Mutex(State(free: max(1, width))) }

    func acquire() async {
        await withCheckedContinuation { continuation in
            let granted = state.withLock { state in
                guard state.free > 0 else {
                    state.waiting.append(continuation)
                    return false
                }
                state.free -= 1
                return true
            }
            if granted { continuation.resume() }
        }
    }

    func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.waiting.isEmpty else {
                state.free += 1
                return nil
            }
            return state.waiting.removeFirst()
        }
        next?.resume()
    }
}
