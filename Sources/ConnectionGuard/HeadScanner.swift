/// Follows the bytes of a connection's requests far enough to know where each head ends
/// and how long its lines are, before the HTTP decoder buffers them: the decoder would
/// take 80 KiB of fields and keep a half-sent head for as long as its client likes.
///
/// It knows the framing of requests without a body and with a `Content-Length`. Neither
/// server takes a body, so a chunked one (`Transfer-Encoding`) is refused rather than
/// followed.
struct HeadScanner {
    enum Refusal: Equatable {
        /// The request line alone is longer than a line may be (414).
        case uriTooLong
        /// A field line, or the head as a whole, is too long (431).
        case headTooLarge
        /// A body this server will not read: chunked (411) or too long (413).
        case lengthRequired
        case bodyTooLarge
        /// A `Content-Length` that is not a number (400).
        case badLength
    }

    struct Outcome: Equatable {
        /// Heads that ended in these bytes.
        var heads = 0
        var refusal: Refusal?
    }

    private enum Phase {
        case head
        case body(remaining: Int64)
    }

    let maxHeadBytes: Int
    let maxLineBytes: Int
    let maxBodyBytes: Int64
    private var phase = Phase.head
    private var headBytes = 0
    private var lineBytes = 0
    private var line = 0
    /// The start of the current field line, lowercased: enough to tell the two fields
    /// that frame a body and to read a length.
    private var prefix: [UInt8] = []
    private var length: Int64?
    private var chunked = false
    private static let prefixLimit = 48
    private static let contentLength = Array("content-length:".utf8)
    private static let transferEncoding = Array("transfer-encoding:".utf8)

    init(maxHeadBytes: Int, maxLineBytes: Int, maxBodyBytes: Int64) {
        self.maxHeadBytes = maxHeadBytes
        self.maxLineBytes = maxLineBytes
        self.maxBodyBytes = maxBodyBytes
        prefix.reserveCapacity(Self.prefixLimit)
    }

    /// Whether part of a request (a head begun, a body not all read) is waiting.
    var isMidRequest: Bool {
        if case .body = phase { return true }
        return headBytes > 0
    }

    mutating func scan(_ bytes: UnsafeRawBufferPointer) -> Outcome {
        var outcome = Outcome()
        var index = 0
        let count = bytes.count
        while index < count {
            if case .body(let remaining) = phase {
                let skipped = min(remaining, Int64(count - index))
                index += Int(skipped)
                phase = remaining == skipped ? .head : .body(remaining: remaining - skipped)
                continue
            }
            let byte = bytes[index]
            index += 1
            headBytes += 1
            if byte == UInt8(ascii: "\n") {
                if let refusal = endLine(&outcome) {
                    outcome.refusal = refusal
                    return outcome
                }
                continue
            }
            if byte == UInt8(ascii: "\r") { continue }
            lineBytes += 1
            if line > 0, prefix.count < Self.prefixLimit {
                prefix.append(byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte)
            }
            if lineBytes > maxLineBytes {
                outcome.refusal = line == 0 ? .uriTooLong : .headTooLarge
                return outcome
            }
            if headBytes > maxHeadBytes {
                outcome.refusal = line == 0 ? .uriTooLong : .headTooLarge
                return outcome
            }
        }
        return outcome
    }

    private mutating func endLine(_ outcome: inout Outcome) -> Refusal? {
        defer {
            lineBytes = 0
            prefix.removeAll(keepingCapacity: true)
        }
        if lineBytes > 0 {
            if line > 0, let refusal = readFraming() { return refusal }
            line += 1
            return nil
        }
        // Empty lines before a request line are allowed (RFC 9112 2.2) and skipped.
        guard line > 0 else {
            if headBytes > maxHeadBytes { return .headTooLarge }
            return nil
        }
        outcome.heads += 1
        let body = length ?? 0
        let wasChunked = chunked
        headBytes = 0
        line = 0
        length = nil
        chunked = false
        if wasChunked { return .lengthRequired }
        if body > maxBodyBytes { return .bodyTooLarge }
        if body > 0 { phase = .body(remaining: body) }
        return nil
    }

    private mutating func readFraming() -> Refusal? {
        if prefix.starts(with: Self.transferEncoding) {
            chunked = true
            return nil
        }
        guard prefix.starts(with: Self.contentLength) else { return nil }
        // A value that does not fit in the prefix is no length a body of ours could have.
        guard lineBytes <= Self.prefixLimit else { return .badLength }
        let value = prefix.dropFirst(Self.contentLength.count).drop { $0 == 0x20 || $0 == 0x09 }
        let digits = value.prefix { $0 != 0x20 && $0 != 0x09 }
        guard !digits.isEmpty, digits.count <= 18, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            value.dropFirst(digits.count).allSatisfy({ $0 == 0x20 || $0 == 0x09 })
        else { return .badLength }
        let number = digits.reduce(Int64(0)) { $0 * 10 + Int64($1 - 0x30) }
        if let length, length != number { return .badLength }
        length = number
        return nil
    }
}
