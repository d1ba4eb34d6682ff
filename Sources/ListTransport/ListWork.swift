import Dispatch

/// The listing's CPU work runs on a queue of its own: decompressing a list, applying a
/// delta, reading and indexing a million lines, comparing two versions each take a
/// good part of a second at that size (see docs/BENCHMARKS.md), and a Swift
/// cooperative thread held that long is one the cache's request handlers wait for.
enum ListWork {
    private static let queue = DispatchQueue(label: "upstream-listing", qos: .utility)

    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }
}
