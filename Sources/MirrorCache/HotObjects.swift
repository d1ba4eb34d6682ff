import NIOCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Small complete objects kept in memory between hits, up to a budget of bytes.
///
/// A small hit read from its file costs `open`, `fstat`, `pread` and `close`, and a copy
/// of the body into a buffer that the socket write copies again. nginx sends the same
/// file with `sendfile`, which copies nothing; that difference alone held NIO's own file
/// server, doing nothing else, well short of nginx (docs/BENCHMARKS.md). From memory the
/// body is copied once, by the socket write.
///
/// Objects never change in place: a new copy is renamed over the old one and an evicted
/// one is unlinked, and `CacheStore` drops the key after either. Bytes read before such
/// a change are not kept (see `insert`). A change made behind the cache's back (an
/// operator editing the cache directory) is seen within `validity`, as with nginx's
/// `open_file_cache_valid`.
final class HotObjects: Sendable {
    struct Object: Sendable {
        let info: stat
        let body: ByteBuffer
        /// Made once: the field is the same for every hit.
        let etag: String
    }
    private struct Entry {
        let object: Object
        let read: Int
        var used: Bool
        var touched: Int
    }
    private struct State {
        var entries: [String: Entry] = [:]
        var bytes = 0
        /// Counts drops, so that a read that raced with one is not kept.
        var drops: UInt64 = 0
    }
    private let state = Mutex(State())
    /// Bytes of bodies kept at most.
    let budget: Int
    /// Seconds an object is served from memory before its file is read again.
    static let validity = 60
    /// Objects up to this size are kept. Larger bodies go by sendfile(2), where the
    /// copy saved outweighs the calls.
    static let sizeLimit: Int64 = 64 * 1024

    init(budget: Int) { self.budget = budget }

    var isEnabled: Bool { budget > 0 }

    /// Seconds between the recency marks a kept object's hits make: eviction from disk
    /// needs the order of use, not every use.
    static let touchInterval = 10

    /// The object kept for `key`, unless it is older than `validity`; `touch`: whether
    /// this hit should mark it used in the store's recency order.
    func lookup(_ key: String, now: Int) -> (object: Object, touch: Bool)? {
        guard budget > 0 else { return nil }
        return state.withLock { state in
            guard let entry = state.entries[key] else { return nil }
            guard now - entry.read < Self.validity else {
                state.bytes -= entry.object.body.capacity
                state.entries[key] = nil
                return nil
            }
            let touch = now - entry.touched >= Self.touchInterval
            if !entry.used || touch {
                state.entries[key]?.used = true
                if touch { state.entries[key]?.touched = now }
            }
            return (entry.object, touch)
        }
    }

    /// Taken before reading a file; `insert` keeps the bytes only if no key was dropped
    /// since, so a copy replaced while it was being read is never kept.
    var mark: UInt64 { state.withLock { $0.drops } }

    func insert(_ key: String, _ object: Object, read: Int, mark: UInt64) {
        let size = object.body.capacity
        guard budget > 0, size <= budget else { return }
        state.withLock { state in
            guard state.drops == mark else { return }
            if let old = state.entries.removeValue(forKey: key) { state.bytes -= old.object.body.capacity }
            if state.bytes + size > budget { Self.sweep(&state, toFit: size, budget: budget) }
            state.entries[key] = Entry(object: object, read: read, used: false, touched: read)
            state.bytes += size
        }
    }

    /// After the object at `key` was replaced or removed.
    func drop(_ key: String) {
        guard budget > 0 else { return }
        state.withLock { state in
            state.drops &+= 1
            if let old = state.entries.removeValue(forKey: key) { state.bytes -= old.object.body.capacity }
        }
    }

    /// Second chance: entries not used since the last sweep go and the others lose their
    /// mark. When that leaves too little room, more go until a quarter of the budget is
    /// free, so that sweeps stay rare.
    private static func sweep(_ state: inout State, toFit size: Int, budget: Int) {
        for (key, entry) in state.entries {
            if entry.used {
                state.entries[key]?.used = false
            } else {
                state.entries[key] = nil
                state.bytes -= entry.object.body.capacity
            }
        }
        guard state.bytes + size > budget else { return }
        var excess = state.bytes - max(0, budget * 3 / 4 - size)
        var victims: [String] = []
        for (key, entry) in state.entries where excess > 0 {
            victims.append(key)
            excess -= entry.object.body.capacity
        }
        for key in victims {
            if let entry = state.entries.removeValue(forKey: key) { state.bytes -= entry.object.body.capacity }
        }
    }

    /// Bytes and count kept now.
    var usage: (bytes: Int, count: Int) { state.withLock { ($0.bytes, $0.entries.count) } }
}
