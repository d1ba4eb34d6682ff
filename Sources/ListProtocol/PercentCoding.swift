/// Percent-encoding of URL paths and query values (RFC 3986): the one encoder and decoder
/// of the list servers, their clients and the cache.
public enum PercentCoding {
    /// One path component, ready to go between two `/`: the unreserved characters and the
    /// few marks mirrors use in names (`+`, `:`, `@`, `=`, `,`) stay as they are, every
    /// other byte (a `/` included) becomes `%XX`. `+` stays because it is literal in a path
    /// and fills Fedora's package names (`libstdc++`); marks a server might read as
    /// parameters (`;`) or that shells and proxies mangle are escaped.
    public static func encodePathComponent(_ component: some StringProtocol) -> String {
        encode(component) { isUnreserved($0) || pathMarks.contains($0) }
    }

    /// A query value, for `name=value` pairs: as a path component, but `+` (a space to
    /// form decoders), `=` and `&` are escaped, and `/` stays (a list path reads better).
    public static func encodeQueryValue(_ value: some StringProtocol) -> String {
        encode(value) { isUnreserved($0) || queryMarks.contains($0) }
    }

    private static let pathMarks: Set<UInt8> = Set("+:@=,".utf8)
    private static let queryMarks: Set<UInt8> = Set(":@,/".utf8)

    private static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
            UInt8(ascii: "~"):
            true
        default: false
        }
    }

    private static func encode(_ text: some StringProtocol, keeping kept: (UInt8) -> Bool) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        var encoded: [UInt8] = []
        encoded.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if kept(byte) {
                encoded.append(byte)
            } else {
                encoded += [UInt8(ascii: "%"), digits[Int(byte >> 4)], digits[Int(byte & 15)]]
            }
        }
        return String(decoding: encoded, as: UTF8.self)
    }

    /// The bytes `text` stands for, or nil when a `%` is not followed by two hex digits.
    /// With `plusIsSpace` (query values from forms), `+` is a space.
    public static func decode(_ text: some StringProtocol, plusIsSpace: Bool = false) -> [UInt8]? {
        var bytes = Substring(text).utf8[...]
        var decoded: [UInt8] = []
        decoded.reserveCapacity(bytes.count)
        while let byte = bytes.popFirst() {
            if byte == UInt8(ascii: "+") && plusIsSpace {
                decoded.append(UInt8(ascii: " "))
                continue
            }
            guard byte == UInt8(ascii: "%") else {
                decoded.append(byte)
                continue
            }
            guard let high = bytes.popFirst().flatMap(hexValue), let low = bytes.popFirst().flatMap(hexValue) else {
                return nil
            }
            decoded.append(high << 4 | low)
        }
        return decoded
    }

    /// The values of `name` in a query string (`a=1&b=2&a=3`), decoded; nil when one is
    /// not valid percent-encoding.
    public static func values(of name: String, inQuery query: some StringProtocol) -> [String]? {
        var values: [String] = []
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.first.flatMap({ decode($0, plusIsSpace: true) }) == Array(name.utf8) else { continue }
            guard let value = decode(parts.count == 2 ? parts[1] : "", plusIsSpace: true) else { return nil }
            values.append(String(decoding: value, as: UTF8.self))
        }
        return values
    }

    public static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
