/// A column of the node table holding 64-bit values in 4 bytes each: times (seconds since
/// 1970, until 2106) and sizes (below 4 GiB) nearly always fit, and the few that do not (an
/// ISO image of 8 GB, a time set before 1970) live in a side table. Eight bytes saved per
/// entry for each column: at ten million entries, 160 MB of the index's memory.
struct NarrowColumn {
    private var values: [UInt32]
    private var wide: [Int: Int64] = [:]
    /// Marks a value kept in `wide`.
    private static let escape = UInt32.max

    init(_ first: Int64) {
        values = []
        append(first)
    }

    var count: Int { values.count }

    subscript(index: Int) -> Int64 {
        get {
            let value = values[index]
            return value == Self.escape ? wide[index]! : Int64(value)
        }
        set {
            if values[index] == Self.escape { wide[index] = nil }
            if newValue >= 0 && newValue < Int64(Self.escape) {
                values[index] = UInt32(newValue)
            } else {
                values[index] = Self.escape
                wide[index] = newValue
            }
        }
    }

    mutating func append(_ value: Int64) {
        values.append(0)
        self[values.count - 1] = value
    }

    var byteCount: Int { values.capacity * 4 + wide.count * 32 }
}
