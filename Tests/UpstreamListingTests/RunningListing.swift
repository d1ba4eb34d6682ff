import Foundation
import Synchronization
import Testing
import TreeFixtures
import UpstreamListing

/// A listing running for one test, with the generations it yielded so far; cancelled
/// when the test lets go of it.
final class RunningListing: Sendable {
    let listing: UpstreamListing
    let log: CapturedLog
    private let runner: Task<Void, any Error>
    private let collector: Task<Void, Never>
    private let received = Received()

    private final class Received: Sendable {
        let generations = Mutex<[ListGeneration]>([])
    }

    init(listServer: String, lists: [String], pollInterval: Duration, requestTimeout: Duration = .seconds(20)) throws {
        let log = CapturedLog()
        self.log = log
        let listing = try UpstreamListing(
            listServer: listServer, lists: lists, pollInterval: pollInterval, requestTimeout: requestTimeout,
            logger: log.logger)
        self.listing = listing
        let executor = QueueExecutor(label: "upstream-listing-test")
        runner = Task(executorPreference: executor) { try await listing.run() }
        let received = self.received
        collector = Task(executorPreference: executor) {
            for await generation in listing.generations { received.generations.withLock { $0.append(generation) } }
        }
    }

    deinit {
        runner.cancel()
        collector.cancel()
    }

    var generations: [ListGeneration] { received.generations.withLock { $0 } }

    /// Polls until `condition` holds, or `timeout` passed; returns whether it held.
    @discardableResult
    func wait(timeout: Duration = .seconds(20), until condition: () -> Bool) -> Bool {
        DaemonProcess.wait(timeout: timeout) { condition() }
    }

    /// The generations yielded after the first `count`, once `expected` paths have
    /// appeared in them and a further `quiet` passed with nothing new (so that a path
    /// reported too many would be seen).
    func generations(after count: Int, covering expected: Int, quiet: Duration = .seconds(1)) async -> [ListGeneration]
    {
        wait {
            self.generations.dropFirst(count).reduce(0) { $0 + $1.changed.count + $1.removed.count } >= expected
        }
        try? await Task.sleep(for: quiet)
        return Array(generations.dropFirst(count))
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
