import Foundation

/// Runs blocking work (a socket read, a child process) on a thread of its own: the
/// test's task pool has as many threads as cores (two here), and the cache under test
/// needs them to answer the very request being waited for.
public enum OffPool {
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }
}
