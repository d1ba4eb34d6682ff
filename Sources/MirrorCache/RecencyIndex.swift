import Synchronization

/// The order in which objects were last used, in memory: atime is unreliable (noatime,
/// relatime), and the cache must know its own size without walking the directory.
final class RecencyIndex: Sendable {
    private struct State {
        var entries: [String: (size: Int64, stamp: UInt64)] = [:]
        var clock: UInt64 = 0
        var total: Int64 = 0
    }
    private let state = Mutex(State())

    var totalBytes: Int64 { state.withLock { $0.total } }

    func insert(_ key: String, size: Int64) {
        state.withLock { state in
            state.clock += 1
            if let old = state.entries[key] { state.total -= old.size }
            state.entries[key] = (size, state.clock)
            state.total += size
        }
    }

    func touch(_ key: String) {
        state.withLock { state in
            state.clock += 1
            state.entries[key]?.stamp = state.clock
        }
    }

    func remove(_ key: String) -> Int64 {
        state.withLock { state in
            guard let old = state.entries.removeValue(forKey: key) else { return 0 }
            state.total -= old.size
            return old.size
        }
    }

    /// A linear scan: eviction is rare next to hits, and a heap would cost every hit.
    func leastRecent() -> String? {
        state.withLock { state in state.entries.min { $0.value.stamp < $1.value.stamp }?.key }
    }
}
