import Crypto
import Dispatch

/// SHA-256 of bytes as they are written, computed on a thread of its own: the writer
/// renders the next chunk while the previous one is hashed, so a 100 MB list costs the
/// publish path (almost) no hashing time.
final class StreamingDigest: @unchecked Sendable {
    /// The hasher is touched on this queue only.
    private let queue = DispatchQueue(label: "quickmirror.streaming-digest")
    private var hasher = SHA256()
    /// Chunks given but not hashed yet, at most this many: a writer faster than the
    /// hashing (a busy machine) waits instead of holding the whole list in memory.
    private let inFlight = DispatchSemaphore(value: 4)

    func update(_ bytes: [UInt8]) {
        inFlight.wait()
        queue.async {
            self.hasher.update(data: bytes)
            self.inFlight.signal()
        }
    }

    /// Waits for the chunks given so far; the digest of all of them, hex.
    var hex: String { queue.sync { ListDigest.hex(hasher.finalize()) } }
}
