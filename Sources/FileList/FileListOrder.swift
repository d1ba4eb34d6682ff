#if canImport(Glibc)
    import Glibc
#endif

/// The order `create-filelist` and the daemon write `[Files]` in: each directory's
/// children as one block sorted by name bytes, blocks in depth-first pre-order.
///
/// That is the order of the key (parent path, name): parent paths compare byte-wise with
/// `/` below every other byte (so a directory's block comes before its descendants'
/// blocks, and `a/b` before `a.b`), names compare byte-wise. Two lists in this order can
/// be merged in one pass, which is what makes a delta between million-line lists cheap.
public enum FileListOrder {
    /// Whether `a` comes strictly before `b`.
    public static func inOrder(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        compare(a, b) < 0
    }

    public static func inOrder(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.withUnsafeBufferPointer { a in b.withUnsafeBufferPointer { b in compare(a, b) < 0 } }
    }

    /// Negative when `a` comes first, zero when the paths are the same, positive otherwise.
    public static func compare(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Int {
        compare(a, nameStart: nameStart(of: a), b, nameStart: nameStart(of: b))
    }

    /// `compare` for paths whose names' starts (just after the last '/', or 0) are
    /// known: a list walk finds them while it checks the path.
    static func compare(
        _ a: UnsafeBufferPointer<UInt8>, nameStart aName: Int, _ b: UnsafeBufferPointer<UInt8>, nameStart bName: Int
    ) -> Int {
        let aParent = max(aName - 1, 0)
        let bParent = max(bName - 1, 0)
        let common = min(aParent, bParent)
        let mismatch = firstMismatch(a, b, common)
        if mismatch < common { return rank(a[mismatch]) < rank(b[mismatch]) ? -1 : 1 }
        if aParent != bParent { return aParent < bParent ? -1 : 1 }
        // Same parent: names hold no '/', plain byte order.
        let nameCommon = min(a.count - aName, b.count - bName)
        if nameCommon > 0 {
            let order = memcmp(a.baseAddress! + aName, b.baseAddress! + bName, nameCommon)
            if order != 0 { return order < 0 ? -1 : 1 }
        }
        return (a.count - aName) - (b.count - bName)
    }

    /// '/' ranks below every byte; a path holds no NUL, but the order stays total anyway.
    private static func rank(_ byte: UInt8) -> Int { byte == slash ? 0 : Int(byte) + 1 }

    /// The index just after the last '/', or 0. A name is short: a backward loop is
    /// enough (and Glibc's module does not export `memrchr`).
    static func nameStart(of path: UnsafeBufferPointer<UInt8>) -> Int {
        var index = path.count
        while index > 0 && path[index - 1] != slash { index -= 1 }
        return index
    }

    /// The first index below `count` where the bytes differ, or `count`. Paths in a list
    /// share long parents, so eight bytes at a time.
    private static func firstMismatch(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>, _ count: Int)
        -> Int
    {
        guard count > 0 else { return 0 }
        let left = UnsafeRawPointer(a.baseAddress!)
        let right = UnsafeRawPointer(b.baseAddress!)
        var index = 0
        while index + 8 <= count {
            let difference =
                left.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                ^ right.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            if difference != 0 { return index + difference.littleEndian.trailingZeroBitCount / 8 }
            index += 8
        }
        while index < count && a[index] == b[index] { index += 1 }
        return index
    }

    private static let slash: UInt8 = 0x2F
}
