/// A size on the command line: `500M`, `20G`, `1T`, or plain bytes (powers of 1024).
public enum ByteCount {
    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    public static func parse(_ text: String, option: String) throws(Invalid) -> Int64 {
        let units: [Character: Int64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
        var digits = Substring(text)
        var multiplier: Int64 = 1
        if let last = digits.last?.uppercased().first, let unit = units[last] {
            multiplier = unit
            digits = digits.dropLast()
        }
        guard let value = Int64(digits), value >= 0, value <= Int64.max / multiplier else {
            throw Invalid(description: "\(option) '\(text)' is not a size (e.g. 500M, 20G)")
        }
        return value * multiplier
    }
}
