/// One pass over a `[Files]` line for the common case: plain digits, a plain type and a
/// path with no component that starts with a dot. It accepts only lines `parseEntry`
/// accepts, with the same values; anything else (a hidden file, a bad line, the last
/// line of a list without its newline) is left to `parseEntry`, which names the problem.
///
/// `parseEntry` finds the line's end with `memchr`, then each field, then checks the path
/// with a `memchr` per component: about fifteen calls per line. Here the path is read a
/// word at a time, eight bytes against `\n`, NUL, `/` and `.` at once: a million lines
/// are read in about half the time.
enum FastLine {
    /// The entry at `start`, with `pathOffset` holding the offset of its `\n` (the caller
    /// sets the real one); nil when `parseEntry` must decide.
    @inline(__always)
    static func parse(_ base: UnsafePointer<UInt8>, from start: Int, count: Int) -> FileListReader.EntryView? {
        var position = start
        guard let time = number(base, &position, count) else { return nil }
        guard position + 2 < count else { return nil }
        guard let kind = EntryKind(rawValue: base[position]) else { return nil }
        var type = EntryType(kind)
        if base[position + 1] == FileListFormat.tab {
            position += 2
        } else {
            guard let access = EntryAccess(rawValue: base[position + 1]), access != .open,
                base[position + 2] == FileListFormat.tab
            else { return nil }
            type.access = access
            position += 3
        }
        guard let size = number(base, &position, count) else { return nil }
        let pathStart = position
        guard let lineEnd = pathEnd(base, from: pathStart, count: count) else { return nil }
        return FileListReader.EntryView(
            time: time, type: type, size: size,
            path: UnsafeBufferPointer(start: base + pathStart, count: lineEnd - pathStart), pathOffset: lineEnd)
    }

    /// 1 to 18 digits and a TAB, as `parseNumber` reads them.
    @inline(__always)
    static func number(_ base: UnsafePointer<UInt8>, _ position: inout Int, _ count: Int) -> Int64? {
        let start = position
        var value: Int64 = 0
        while position < count {
            let digit = base[position] &- 0x30
            guard digit < 10 else { break }
            value = value &* 10 &+ Int64(digit)
            position += 1
        }
        let length = position - start
        guard length >= 1, length <= 18, position < count, base[position] == FileListFormat.tab else { return nil }
        position += 1
        return value
    }

    static let ones: UInt64 = 0x0101_0101_0101_0101
    static let highs: UInt64 = 0x8080_8080_8080_8080

    /// The high bit of each byte of `word` that is zero (and maybe of a 0x01 byte just
    /// above a zero byte: only ever above a true one, so the lowest bit is exact).
    @inline(__always)
    static func zeros(_ word: UInt64) -> UInt64 { (word &- ones) & ~word & highs }

    /// The offset of the `\n` that ends a path starting at `start`, if the path is one
    /// `RelativePath.problem` accepts and it has no component starting with a dot.
    @inline(__always)
    static func pathEnd(_ base: UnsafePointer<UInt8>, from start: Int, count: Int) -> Int? {
        guard start < count else { return nil }
        let first = base[start]
        guard first != 0x2F, first != 0x2E, first != FileListFormat.newline else { return nil }
        var position = start
        // A slash in the last byte of the previous word, moved to bit 7 of the next.
        var carry: UInt64 = 0
        while position + 8 <= count {
            let word = UnsafeRawPointer(base + position).loadUnaligned(as: UInt64.self)
            let newlines = zeros(word ^ (ones &* 0x0A))
            let slashes = zeros(word ^ (ones &* 0x2F))
            var bad = zeros(word) | ((slashes << 8 | carry) & (slashes | zeros(word ^ (ones &* 0x2E))))
            if newlines != 0 {
                let index = newlines.trailingZeroBitCount >> 3
                // Only the bytes before the newline count; and the path must not end in '/'.
                bad &= (1 << UInt64(index * 8)) &- 1
                guard bad == 0 else { return nil }
                let end = position + index
                guard base[end - 1] != 0x2F, end - start <= 4096 else { return nil }
                return end
            }
            guard bad == 0 else { return nil }
            carry = slashes >> 56
            position += 8
        }
        // The last few bytes of the list: leave them to parseEntry.
        return nil
    }
}
