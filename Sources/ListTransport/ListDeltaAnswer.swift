import FileList
import NIOCore
import ListProtocol

/// A `/changes` answer applied to the list it starts from. filelistd's ETag is the
/// list's SHA-256, so the rebuilt bytes are checked against the digest the delta names:
/// a delta that does not decode, starts elsewhere or gives other bytes is refused, and
/// the caller fetches the whole list rather than guess.
public enum ListDeltaAnswer {
    public static func rebuilt(
        _ body: ByteBuffer, url: String, since digest: String, installed: [UInt8]
    ) throws(ListTransportError) -> (list: [UInt8], digest: String, edits: Int, segments: [ListSegment]) {
        let delta: FileListDelta
        let bytes: [UInt8]
        do {
            delta = try FileListDelta(decoding: Array(buffer: body), source: url)
            guard delta.base == digest else { throw ListTransportError("it starts from another version") }
            bytes = try delta.applied(to: installed)
        } catch {
            throw ListTransportError("\(error)")
        }
        var digester = ListDigester()
        digester.update(bytes)
        let (digest, segments) = digester.finish()
        guard digest == delta.result else {
            throw ListTransportError("the result's digest is not the one it names")
        }
        return (bytes, delta.result, delta.editCount, segments)
    }

    /// A `/changes` answer decoded and checked to start from `digest`, for a client that
    /// applies it where its list is (`ListFetch.Held.apply`).
    public static func decoded(_ body: ByteBuffer, url: String, since digest: String) throws(ListTransportError)
        -> FileListDelta
    {
        let delta: FileListDelta
        do {
            delta = try FileListDelta(decoding: Array(buffer: body), source: url)
        } catch {
            throw ListTransportError("\(error)")
        }
        guard delta.base == digest else { throw ListTransportError("it starts from another version") }
        return delta
    }
}
