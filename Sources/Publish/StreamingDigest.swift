import Dispatch
import ListProtocol

/// The list digest of bytes as they are written (`ListDigest`), computed on a thread of
/// its own: the writer renders the next chunk while the previous one is hashed, so a list
/// written whole costs the publish path (almost) no hashing time.
final class StreamingDigest: @unchecked Sendable {
    /// The hasher is touched on this queue only.
    private let queue = DispatchQueue(label: "quickmirror.streaming-digest")
    private var digester = ListDigester()
    /// Chunks given but not hashed yet, at most this many: a writer faster than the
    /// hashing (a busy machine) waits instead of holding the whole list in memory.
    private let inFlight = DispatchSemaphore(value: 4)

    func update(_ bytes: [UInt8]) {
        inFlight.wait()
        queue.async {
            self.digester.update(bytes)
            self.inFlight.signal()
        }
    }

    /// Waits for the chunks given so far; the digest of all of them, hex. Call it once:
    /// the digester is finished.
    var hex: String { queue.sync { digester.finish().digest } }
}
