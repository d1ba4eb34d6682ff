/// Helpers for comparing lists. Lines stay bytes: as Strings, the NFC and NFD spellings
/// of a name compare equal and a Set would merge them.
public enum ListLines {
    /// The lines of the `[Files]` section.
    public static func files(of list: [UInt8]) -> [[UInt8]] {
        let marker = Array("[Files]\n".utf8)
        guard let start = list.firstRange(of: marker)?.upperBound else { return [] }
        var lines: [[UInt8]] = []
        var current: [UInt8] = []
        for byte in list[start...] {
            if byte != 0x0A {
                current.append(byte)
                continue
            }
            if current.isEmpty { break }
            lines.append(current)
            current = []
        }
        return lines
    }

    /// Everything from the first checksum header on.
    public static func trailer(of list: [UInt8]) -> String {
        let text = String(decoding: list, as: UTF8.self)
        guard let start = text.range(of: "\n[Checksums") else { return "" }
        return String(text[start.lowerBound...])
    }
}
