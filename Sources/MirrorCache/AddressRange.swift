#if canImport(Glibc)
    import Glibc
#endif

/// One `--allow` CIDR (`192.168.1.0/24`, `::1/128`, a bare address for one host).
public struct AddressRange: Sendable, Hashable, CustomStringConvertible {
    let network: [UInt8]
    let prefix: Int
    public let description: String

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    public static let loopback: [AddressRange] = [try! AddressRange("127.0.0.0/8"), try! AddressRange("::1/128")]

    public init(_ text: String) throws(Invalid) {
        description = text
        let parts = text.split(separator: "/", maxSplits: 1)
        guard let first = parts.first, let address = Self.bytes(of: String(first)) else {
            throw Invalid(description: "--allow '\(text)' is not an address or CIDR (e.g. 192.168.1.0/24)")
        }
        let bits = address.count * 8
        var prefix = bits
        if parts.count == 2 {
            guard let given = Int(parts[1]), (0...bits).contains(given) else {
                throw Invalid(description: "--allow '\(text)': the prefix length must be 0...\(bits)")
            }
            prefix = given
        }
        self.network = address
        self.prefix = prefix
    }

    /// The 4 or 16 bytes of an IPv4 or IPv6 address in text.
    static func bytes(of text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }

    /// Whether the address (4 or 16 bytes; an IPv4-mapped IPv6 address counts as IPv4)
    /// lies in the range.
    public func contains(_ address: [UInt8]) -> Bool {
        var address = address
        if address.count == 16, network.count == 4, address[0..<10].allSatisfy({ $0 == 0 }),
            address[10] == 0xff, address[11] == 0xff
        {
            address = Array(address[12...])
        }
        guard address.count == network.count else { return false }
        var remaining = prefix
        for index in 0..<network.count where remaining > 0 {
            let mask: UInt8 = remaining >= 8 ? 0xff : ~(0xff >> UInt8(remaining))
            if address[index] & mask != network[index] & mask { return false }
            remaining -= 8
        }
        return true
    }
}
