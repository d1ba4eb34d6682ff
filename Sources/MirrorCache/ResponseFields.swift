import ListProtocol
import NIOHTTP1

/// Header values shared by hits and misses, so that a client sees the same validators
/// for an object whichever path served it.
enum ResponseFields {
    /// nginx's shape: hex seconds and hex size, strong enough for one cache's copies.
    static func etag(mtime: Int64, size: Int64) -> String {
        "\"" + String(mtime, radix: 16) + "-" + String(size, radix: 16) + "\""
    }

    /// Whether an upstream's field value may go to a client as it is: no control bytes but
    /// tab. The server pipeline does not check outgoing fields (see `MirrorCache.start`),
    /// so the few values copied from an upstream are checked here, where they are copied.
    static func isCopyable(_ value: String) -> Bool {
        value.utf8.allSatisfy { $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }
    }

    static func object(
        size: Int64?, mtime: Int64?, range: Range<Int64>?, total: Int64?, lastModified: String? = nil,
        etag knownETag: String? = nil
    ) -> HTTPHeaders {
        var headers = HTTPHeaders()
        headers.add(name: "accept-ranges", value: "bytes")
        if let mtime {
            headers.add(name: "last-modified", value: lastModified ?? HTTPDate.format(secondsSinceEpoch: Int(mtime)))
            if let total { headers.add(name: "etag", value: knownETag ?? etag(mtime: mtime, size: total)) }
        }
        if let range, let total {
            headers.add(name: "content-range", value: "bytes \(range.lowerBound)-\(range.upperBound - 1)/\(total)")
            headers.add(name: "content-length", value: "\(range.count)")
        } else if let size {
            headers.add(name: "content-length", value: "\(size)")
        }
        return headers
    }
}

extension ResponseFields {
    /// The answer to a GET or HEAD of a complete object of `size` bytes: the status, the
    /// fields, and the bytes of the file to send (nil: none, 416). `lastModified` and
    /// `etag`: the texts for `mtime` and `size`, when the caller keeps them made.
    static func complete(
        size: Int64, mtime: Int64, range: ByteRange?, lastModified: String? = nil, etag: String? = nil
    ) -> (HTTPResponseStatus, HTTPHeaders, Range<Int64>) {
        guard let range else {
            return (
                .ok, object(size: size, mtime: mtime, range: nil, total: size, lastModified: lastModified, etag: etag),
                0..<size
            )
        }
        guard let bounds = range.bounds(size: size) else {
            var headers = HTTPHeaders()
            headers.add(name: "content-range", value: "bytes */\(size)")
            headers.add(name: "content-length", value: "0")
            return (.rangeNotSatisfiable, headers, 0..<0)
        }
        return (
            .partialContent,
            object(size: size, mtime: mtime, range: bounds, total: size, lastModified: lastModified, etag: etag), bounds
        )
    }
}
