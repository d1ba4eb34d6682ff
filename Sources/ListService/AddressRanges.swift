#if canImport(Glibc)
    import Glibc
#endif

/// Client addresses a server lets do something more than read (`--allow-rescan-from`):
/// IPv4 and IPv6 networks in CIDR form (`10.0.0.0/8`, `2001:db8::/32`) or single
/// addresses. An IPv4 client on an IPv6 socket (`::ffff:10.1.2.3`) is matched as IPv4.
public struct AddressRanges: Sendable, Equatable, CustomStringConvertible {
    struct Range: Sendable, Equatable {
        var bytes: [UInt8]
        var prefix: Int
    }

    private var ranges: [Range] = []
    public let description: String

    /// Parses a comma-separated list; the error names the item that is not an address.
    public init(parsing text: String) throws(ListServiceError) {
        description = text
        for item in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !item.isEmpty {
            let parts = item.split(separator: "/", maxSplits: 1)
            guard let bytes = Self.bytes(of: String(parts[0])) else {
                throw ListServiceError("'\(item)' is not an IPv4 or IPv6 address or network (e.g. 10.0.0.0/8)")
            }
            let prefix = parts.count == 2 ? Int(parts[1]) : bytes.count * 8
            guard let prefix, (0...(bytes.count * 8)).contains(prefix) else {
                throw ListServiceError("'\(item)': the prefix length must be 0 to \(bytes.count * 8)")
            }
            ranges.append(Range(bytes: bytes, prefix: prefix))
        }
        guard !ranges.isEmpty else { throw ListServiceError("no address given") }
    }

    /// Whether the address (as NIO or a peer name spells it) is in one of the ranges.
    public func contains(_ address: String) -> Bool {
        guard var bytes = Self.bytes(of: address) else { return false }
        if bytes.count == 16 && bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
            bytes = Array(bytes[12...])
        }
        return ranges.contains { range in
            guard range.bytes.count == bytes.count else { return false }
            let whole = range.prefix / 8
            guard range.bytes[..<whole] == bytes[..<whole] else { return false }
            let rest = range.prefix % 8
            guard rest > 0 else { return true }
            let mask = UInt8(0xFF << (8 - rest) & 0xFF)
            return range.bytes[whole] & mask == bytes[whole] & mask
        }
    }

    /// The address's bytes (4 or 16), or nil.
    static func bytes(of text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }
}
