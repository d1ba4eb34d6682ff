/// A client's `Range: bytes=...` header, single ranges only (what package managers and
/// download resumers send); several ranges get the whole object, as RFC 9110 allows.
public enum ByteRange: Sendable, Equatable {
    case from(Int64)
    case fromTo(Int64, Int64)
    case suffix(Int64)

    public static func parse(_ header: String) -> ByteRange? {
        let text = header.trimmingSpaces
        guard text.hasPrefix("bytes="), !text.contains(",") else { return nil }
        let spec = text.dropFirst("bytes=".count)
        guard let dash = spec.firstIndex(of: "-") else { return nil }
        let first = spec[..<dash]
        let last = spec[spec.index(after: dash)...]
        if first.isEmpty { return Int64(last).map { .suffix($0) } }
        guard let start = Int64(first), start >= 0 else { return nil }
        if last.isEmpty { return .from(start) }
        guard let end = Int64(last), end >= start else { return nil }
        return .fromTo(start, end)
    }

    /// The half-open byte interval within an object of `size` bytes, or nil when the
    /// range is unsatisfiable (416).
    public func bounds(size: Int64) -> Range<Int64>? {
        switch self {
        case .from(let start): return start < size ? start..<size : nil
        case .fromTo(let start, let end): return start < size ? start..<min(end + 1, size) : nil
        case .suffix(let count): return count > 0 && size > 0 ? max(0, size - count)..<size : nil
        }
    }
}

extension String {
    var trimmingSpaces: Substring {
        let start = firstIndex { $0 != " " && $0 != "\t" } ?? endIndex
        let end = lastIndex { $0 != " " && $0 != "\t" }.map(index(after:)) ?? start
        return self[start..<max(start, end)]
    }
}
