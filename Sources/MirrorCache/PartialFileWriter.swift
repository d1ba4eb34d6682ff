import Crypto
import Dispatch
import FileList
import LinuxCalls
import NIOCore
import Synchronization
import SystemPackage

/// Appends a fetch's body to its partial file on a queue of its own. Written on the event
/// loop that also read the upstream's socket and fed the clients, the copy into the page
/// cache held that one thread while the other core idled; here the socket is read while
/// the previous chunk is written. At most 8 MiB wait to be written: a disk slower than
/// the upstream slows the reading, it does not fill the memory.
///
/// Readers see bytes only once they are in the file (`written` is called after each
/// write). After a failed write nothing more is written and the failure is reported to
/// the next `append` or `drain`.
final class PartialFileWriter: Sendable {
    private struct State {
        var handed: Int64 = 0
        var pending = 0
        var failure: Errno?
        var hasher: SHA256?
        var spaceWaiters: [CheckedContinuation<Void, Never>] = []
    }
    private static let limit = 8 << 20
    private let state: Mutex<State>
    private let queue = DispatchQueue(label: "mirror-cache-partial-file")
    private let descriptor: SystemPackage.FileDescriptor
    private let written: @Sendable (Int64) -> Void

    /// `hashing`: keep a SHA-256 of the bytes (only when the list has a checksum to match:
    /// it costs a core at line rate). `written`: told each count of bytes now in the file.
    init(descriptor: SystemPackage.FileDescriptor, hashing: Bool, written: @escaping @Sendable (Int64) -> Void) {
        self.descriptor = descriptor
        self.written = written
        state = Mutex(State(hasher: hashing ? SHA256() : nil))
    }

    /// Bytes handed over so far, written or not: where the next chunk goes.
    var handed: Int64 { state.withLock { $0.handed } }

    /// Queues `buffer` after the bytes handed so far; waits while too much is queued.
    /// Returns the failure of an earlier write instead, once one failed.
    func append(_ buffer: ByteBuffer) async -> Errno? {
        let count = buffer.readableBytes
        var offset: Int64 = 0
        while true {
            enum Turn { case failed(Errno), go, wait }
            let turn: Turn = state.withLock { state in
                if let failure = state.failure { return .failed(failure) }
                guard state.pending < Self.limit else { return .wait }
                offset = state.handed
                state.handed += Int64(count)
                state.pending += count
                return .go
            }
            switch turn {
            case .failed(let failure): return failure
            case .go:
                let at = offset
                queue.async { self.write(buffer, at: at) }
                return nil
            case .wait:
                await withCheckedContinuation { continuation in
                    let now: Bool = state.withLock { state in
                        if state.failure != nil || state.pending < Self.limit { return true }
                        state.spaceWaiters.append(continuation)
                        return false
                    }
                    if now { continuation.resume() }
                }
            }
        }
    }

    /// Waits for every queued write; the failure, if one failed.
    func drain() async -> Errno? {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume() }
        }
        return state.withLock { $0.failure }
    }

    /// The SHA-256 of everything written; after `drain`.
    func digest() -> String? {
        state.withLock { $0.hasher?.finalize() }.map(ChecksumAlgorithm.hex)
    }

    private func write(_ buffer: ByteBuffer, at offset: Int64) {
        let skip = state.withLock { $0.failure != nil }
        var done = 0
        var failure: Errno?
        if !skip {
            buffer.withUnsafeReadableBytes { raw in
                let outcome = Linux.pwriteAll(descriptor, raw, offset: offset, displayPath: "partial file")
                done = outcome.written
                failure = outcome.error?.errno
                state.withLock { state in
                    state.hasher?.update(bufferPointer: UnsafeRawBufferPointer(rebasing: raw[0..<done]))
                }
            }
        }
        let waiters = state.withLock { state in
            state.pending -= buffer.readableBytes
            if let failure, state.failure == nil { state.failure = failure }
            defer { state.spaceWaiters = [] }
            return state.spaceWaiters
        }
        if done > 0 { written(Int64(done)) }
        for waiter in waiters { waiter.resume() }
    }
}
