#if canImport(Glibc)
    import Glibc
#endif

/// `\n`-terminated lines of a list, read forward. A returned line is valid until the
/// next call; a last line without `\n` still counts as a line.
protocol ListLines {
    mutating func next() -> UnsafeBufferPointer<UInt8>?
    /// The number of the line last returned.
    var number: Int { get }
}

/// The lines of a list held in memory, or of a range of it (the reader splits a big
/// `[Files]` section in two and reads the halves on two threads).
struct LineCursor: ListLines {
    let buffer: UnsafeBufferPointer<UInt8>
    /// Where the next line starts.
    private(set) var offset: Int
    private let end: Int
    private(set) var number: Int

    init(_ buffer: UnsafeBufferPointer<UInt8>, from start: Int = 0, to end: Int? = nil, number: Int = 0) {
        self.buffer = buffer
        offset = start
        self.end = end ?? buffer.count
        self.number = number
    }

    mutating func next() -> UnsafeBufferPointer<UInt8>? {
        guard offset < end, let base = buffer.baseAddress else { return nil }
        number += 1
        let lineEnd =
            memchr(base + offset, Int32(FileListFormat.newline), end - offset).map {
                UnsafeRawPointer($0) - UnsafeRawPointer(base)
            } ?? end
        let line = UnsafeBufferPointer(start: base + offset, count: lineEnd - offset)
        offset = lineEnd + 1
        return line
    }
}

/// A list read forward through a window, for a list that is only compared with another
/// one (the installed list, against the new one): a million lines are ~100 MB that
/// need not be held.
///
/// `read` fills a buffer and returns the number of bytes read, 0 at the end of the
/// list and -1 on an error. A failed read ends the lines there, and so does a line
/// longer than the window: no line of a valid list is longer than 4,300 bytes (a path
/// is at most 4096), so either way the reader refuses the list as truncated.
struct StreamedLines: ListLines {
    typealias Read = (UnsafeMutableRawBufferPointer) -> Int

    private let read: Read
    private let window: UnsafeMutableBufferPointer<UInt8>
    /// The cursor: where the next line starts.
    private var start = 0
    /// The end of what has been read into the window.
    private var end = 0
    private var atEnd = false
    /// A read failed, or a line did not fit the window.
    private(set) var failed = false
    private(set) var number = 0
    /// The end of the line at the cursor, once `peek` has found it.
    private var peeked: Int?

    init(capacity: Int = 1 << 20, read: @escaping Read) {
        self.read = read
        window = .allocate(capacity: capacity)
    }

    func deallocate() { window.deallocate() }

    /// What has been read past the cursor.
    var available: UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(rebasing: window[start..<end])
    }

    /// Reads until `wanted` bytes (at most half the window) follow the cursor, or the
    /// list ends. Moves what is left to the front of the window first, so lines and
    /// `available` seen before are no longer valid.
    mutating func fill(atLeast wanted: Int) {
        let wanted = min(wanted, window.count / 2)
        guard end - start < wanted, !atEnd else { return }
        compact()
        while end - start < wanted && !atEnd { readMore() }
    }

    private mutating func compact() {
        guard start > 0 else { return }
        let base = window.baseAddress!
        memmove(base, base + start, end - start)
        end -= start
        if let line = peeked { peeked = line - start }
        start = 0
    }

    /// One read into the free end of the window (which must not be full).
    private mutating func readMore() {
        let count = read(UnsafeMutableRawBufferPointer(UnsafeMutableBufferPointer(rebasing: window[end...])))
        if count > 0 {
            end += count
        } else {
            atEnd = true
            failed = count < 0
        }
    }

    /// The line at the cursor, without taking it.
    mutating func peek() -> UnsafeBufferPointer<UInt8>? {
        if let line = peeked { return UnsafeBufferPointer(rebasing: window[start..<line]) }
        while true {
            if let newline = memchr(window.baseAddress! + start, Int32(FileListFormat.newline), end - start) {
                let line = UnsafeRawPointer(newline) - UnsafeRawPointer(window.baseAddress!)
                peeked = line
                return UnsafeBufferPointer(rebasing: window[start..<line])
            }
            if atEnd {
                guard start < end, !failed else { return nil }
                peeked = end
                return UnsafeBufferPointer(rebasing: window[start..<end])
            }
            if start == 0 && end == window.count {
                // A line longer than the window: see above.
                atEnd = true
                failed = true
                return nil
            }
            compact()
            readMore()
        }
    }

    /// Takes the line `peek` returned.
    mutating func take() {
        guard let line = peeked else { return }
        start = min(line + 1, end)
        number += 1
        peeked = nil
    }

    mutating func next() -> UnsafeBufferPointer<UInt8>? {
        guard let line = peek() else { return nil }
        take()
        return line
    }

    /// Takes `lines` whole lines of `bytes` bytes, all within `available`.
    mutating func skip(bytes: Int, lines: Int) {
        start += bytes
        number += lines
        peeked = nil
    }
}
