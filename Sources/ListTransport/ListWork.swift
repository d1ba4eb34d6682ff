import Dispatch

/// CPU work on lists runs on a queue of its own: decompressing a list, hashing it,
/// applying a delta, reading and indexing a million lines, comparing two versions each
/// take a good part of a second at that size (see docs/BENCHMARKS.md), and a Swift
/// cooperative thread held that long is one mirror-cache's request handlers wait for.
public enum ListWork {
    private static let queue = DispatchQueue(label: "list-work", qos: .utility)

    public static func run<T: Sendable, Failure: Error>(
        _ body: @escaping @Sendable () throws(Failure) -> T
    ) async throws(Failure) -> T {
        let result: Result<T, Failure> = await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: Result { () throws(Failure) in try body() }) }
        }
        return try result.get()
    }
}
