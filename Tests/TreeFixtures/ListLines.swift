/// Helpers for comparing lists as text.
public enum ListLines {
    /// The lines of the `[Files]` section.
    public static func files(of list: [UInt8]) -> [String] {
        let text = String(decoding: list, as: UTF8.self)
        guard let start = text.range(of: "[Files]\n") else { return [] }
        let rest = text[start.upperBound...]
        let end = rest.range(of: "\n\n")?.lowerBound ?? rest.endIndex
        return rest[..<end].split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            .filter { !$0.isEmpty }
    }

    /// Everything from the first checksum header on.
    public static func trailer(of list: [UInt8]) -> String {
        let text = String(decoding: list, as: UTF8.self)
        guard let start = text.range(of: "\n[Checksums") else { return "" }
        return String(text[start.lowerBound...])
    }
}
