import Testing
import TreeFixtures

@testable import FileList

/// A reader of in-memory bytes in pieces of random sizes, as `StreamedLines` reads a file.
final class Pieces: @unchecked Sendable {
    let bytes: [UInt8]
    var offset = 0
    var random: ListPairs.Random
    let largest: Int

    init(_ bytes: [UInt8], seed: UInt64, largest: Int = 97) {
        self.bytes = bytes
        random = ListPairs.Random(seed: seed)
        self.largest = largest
    }

    func read(_ buffer: UnsafeMutableRawBufferPointer) -> Int {
        let count = min(buffer.count, bytes.count - offset, Int.random(in: 1...largest, using: &random))
        guard count > 0 else { return 0 }
        bytes.withUnsafeBytes { source in
            buffer.baseAddress!.copyMemory(from: source.baseAddress! + offset, byteCount: count)
        }
        offset += count
        return count
    }
}

@Suite("The in-step walk finds what the keyed match finds", .ownThread)
struct InStepDiffTests {
    /// What `FileListDiff` says, in the walk's terms.
    static func keyed(old: [UInt8], new: [UInt8]) throws -> InStepDiff? {
        guard let oldList = try? CompactFileList(parsing: old, keysOnly: true) else { return nil }
        let diff = FileListDiff(old: oldList, new: try CompactFileList(parsing: new))
        var result = InStepDiff()
        result.addedOrChanged = diff.addedOrChanged
        result.removed = CompactFileList.lines(at: diff.removed, in: old)
        result.oldCount = oldList.count
        return result
    }

    static func walk(old: [UInt8], new: [UInt8], seed: UInt64, limit: Int? = nil) throws -> InStepDiff.Outcome {
        let pieces = Pieces(old, seed: seed)
        return InStepDiff.compare(
            new: try CompactFileList(validating: new), oldReading: pieces.read, divergenceLimit: limit,
            windowSize: 1024)
    }

    static func expectSame(
        _ outcome: InStepDiff.Outcome, _ expected: InStepDiff?, _ context: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        switch outcome {
        case .diverged:
            Issue.record("\(context): diverged", sourceLocation: sourceLocation)
        case .oldUnusable:
            #expect(expected == nil, "\(context): the old list was refused", sourceLocation: sourceLocation)
        case .compared(let diff):
            guard let expected else {
                Issue.record("\(context): an old list the keyed match refuses was used", sourceLocation: sourceLocation)
                return
            }
            #expect(diff.addedOrChanged == expected.addedOrChanged, "\(context)", sourceLocation: sourceLocation)
            #expect(diff.oldCount == expected.oldCount, "\(context)", sourceLocation: sourceLocation)
            let sort = { (lines: [(type: EntryType, path: [UInt8])]) in
                lines.map { "\($0.type) \(String(decoding: $0.path, as: UTF8.self))" }.sorted()
            }
            #expect(sort(diff.removed) == sort(expected.removed), "\(context)", sourceLocation: sourceLocation)
        }
    }

    @Test(
        "random list pairs, every kind of change, read through a small window", arguments: ListPairs.Scenario.allCases)
    func randomPairs(_ scenario: ListPairs.Scenario) throws {
        for seed in UInt64(1)...40 {
            let (old, new) = ListPairs.pair(scenario, seed: seed)
            let oldBytes = ListPairs.render(old)
            let newBytes = ListPairs.render(new)
            Self.expectSame(
                try Self.walk(old: oldBytes, new: newBytes, seed: seed),
                try Self.keyed(old: oldBytes, new: newBytes), "\(scenario) seed \(seed)")
        }
    }

    @Test("lists that diverge past the limit give up; under it, the result is still the keyed one")
    func divergence() throws {
        var compared = 0
        for seed in UInt64(1)...20 {
            let (old, new) = ListPairs.pair(.shuffled, seed: seed)
            let oldBytes = ListPairs.render(old)
            let newBytes = ListPairs.render(new)
            guard case .diverged = try Self.walk(old: oldBytes, new: newBytes, seed: seed, limit: 10) else {
                Issue.record("seed \(seed): a shuffled list stayed under 10 waiting lines")
                continue
            }
            for scenario in [ListPairs.Scenario.movedBlocks, .mixed] {
                let (old, new) = ListPairs.pair(scenario, seed: seed)
                let outcome = try Self.walk(
                    old: ListPairs.render(old), new: ListPairs.render(new), seed: seed, limit: 60)
                if case .diverged = outcome { continue }
                compared += 1
                Self.expectSame(
                    outcome, try Self.keyed(old: ListPairs.render(old), new: ListPairs.render(new)),
                    "\(scenario) seed \(seed), limit 60")
            }
        }
        #expect(compared > 0, "every list under the limit diverged: nothing was compared")
    }

    static let badLines = [
        "1\tf\t1\t../escaped", "1\tf\t1\t/etc/passwd", "x\tf\t1\ta", "1\tq\t1\ta", "1\tf\t1", "1\tf\t-1\ta",
        "1\tf\t1\ta//b", "1\tf\t1\ta/./b", "1\tf\t1\ta/", "1\tf+\t1\ta",
    ]

    @Test("an old list that would not parse is not used, wherever the bad line is")
    func unusableOldList() throws {
        for (number, bad) in Self.badLines.enumerated() {
            let seed = UInt64(number + 1)
            let (old, new) = ListPairs.pair(.mixed, seed: seed)
            let newBytes = ListPairs.render(new)
            var oldBytes = ListPairs.render(old)
            // A line of the old list only (the new list stays valid).
            oldBytes = ListPairs.replacingLine(Int(seed * 37) % old.count, with: bad, in: oldBytes)
            Self.expectSame(
                try Self.walk(old: oldBytes, new: newBytes, seed: seed), nil, "old line '\(bad)'")
        }
        let (old, new) = ListPairs.pair(.editedInPlace, seed: 3)
        let newBytes = ListPairs.render(new)
        let oldBytes = ListPairs.render(old)
        let text = String(decoding: oldBytes, as: UTF8.self)
        let broken = [
            ("truncated", String(text.dropLast(8))),
            ("version 4", text.replacingOccurrences(of: "[Version]\n2\n", with: "[Version]\n4\n")),
            ("no [Version]", String(text.dropFirst(10))),
            ("content after [End]", text + "more\n"),
            (
                "a bad checksum line",
                text.replacingOccurrences(of: "[Checksums SHA1]\n", with: "[Checksums SHA1]\nxyz\ta\n")
            ),
            ("an unknown section", text.replacingOccurrences(of: "[Checksums SHA1]", with: "[Other]")),
            ("empty", ""),
            ("no [Files] end", String(text.prefix(upTo: text.range(of: "\n\n[Checksums")!.lowerBound)) + "\n"),
        ]
        for (name, text) in broken {
            Self.expectSame(
                try Self.walk(old: Array(text.utf8), new: newBytes, seed: 1),
                try Self.keyed(old: Array(text.utf8), new: newBytes),
                name)
        }
        // A line longer than the window: no valid list has one.
        let long = ListPairs.replacingLine(2, with: "1\tf\t1\t" + String(repeating: "a", count: 5000), in: oldBytes)
        Self.expectSame(try Self.walk(old: long, new: newBytes, seed: 1), nil, "a line longer than the window")
    }

    @Test("a bad line in the new list is refused with the error a whole parse gives")
    func badNewLine() throws {
        for (number, bad) in Self.badLines.enumerated() {
            let new = ListPairs.pair(.editedInPlace, seed: UInt64(number + 1)).new
            let index = (number * 53) % new.count
            let newBytes = ListPairs.replacingLine(index, with: bad, in: ListPairs.render(new))
            let expected = #expect(throws: FileListError.self) { try CompactFileList(parsing: newBytes, source: "n") }
            let validating = #expect(throws: FileListError.self) {
                try CompactFileList(validating: newBytes, source: "n")
            }
            #expect(validating == expected, "'\(bad)'")
            #expect(validating?.source == "n" && validating?.line == index + 5)
        }
    }

    /// Lines that test the edges of the one-pass reader: each is checked against `parseEntry`.
    static func edgeLines(_ random: inout ListPairs.Random) -> [String] {
        let times = ["1", "0", "0001", "123456789012345678", "1234567890123456789", "", "1a", "-1", " 1"]
        let types = ["f", "d", "l", "f-", "d*", "l-", "f+", "x", "", "ff", "f\0", "-"]
        let paths = [
            "a", "a/b", ".treeinfo", "a/.hidden", "..", ".", "a/..", "a/../b", "a//b", "a/", "/a", "", "a\0b", "a\tb",
            "a/b.c/d", "a.b", "...", "a/...", String(repeating: "x/", count: 2047) + "y",
            String(repeating: "z", count: 4096),
            String(repeating: "z", count: 4097), "a/b/c/d/e/f/g/h/i/j/k/l/m/n", "café/naïve", "a/\u{1}/b", "a/\u{7F}",
            "abcdefg/", "abcdefg/.", "abcdefgh/", "abcdefg//x", "abcdefgh//x", "abcdefg/.x", "abcdefgh/.x", "1234567/",
        ]
        var lines: [String] = []
        for time in times { lines.append("\(time)\tf\t1\ta/b") }
        for type in types { lines.append("1\t\(type)\t1\ta/b") }
        for size in times { lines.append("1\tf\t\(size)\ta/b") }
        for path in paths { lines.append("1\tf\t1\t\(path)") }
        lines += ["1\tf\t1", "1\tf", "1", "", "1\t\t\t", "1\tf\t1\ta\tb\tc"]
        for _ in 0..<3000 {
            var bytes = Array(
                "\(times.randomElement(using: &random)!)\t\(types.randomElement(using: &random)!)\t7\t".utf8)
            for _ in 0..<Int.random(in: 1...30, using: &random) {
                bytes.append([0x2F, 0x2E, 0x61, 0x62, 0x00, 0x09, 0x2D].randomElement(using: &random)!)
            }
            lines.append(String(decoding: bytes, as: UTF8.self))
        }
        return lines
    }

    @Test("the one-pass line reader accepts only lines the exact reader accepts, with the same fields")
    func fastLine() {
        var random = ListPairs.Random(seed: 7)
        for line in Self.edgeLines(&random) {
            // What follows the line decides nothing: the newline ends it.
            for tail in ["", "x", "1234567\n", "\n\n[End]\n"] {
                let bytes = Array((line + "\n" + tail).utf8)
                bytes.withUnsafeBufferPointer { buffer in
                    let lineBytes = UnsafeBufferPointer(rebasing: buffer[..<(buffer.firstIndex(of: 0x0A)!)])
                    let exact = try? FileListReader.parseEntry(lineBytes) { FileListError(line: 1, problem: $0) }
                    guard let fast = FastLine.parse(buffer.baseAddress!, from: 0, count: buffer.count) else { return }
                    guard let exact else {
                        Issue.record("accepted a line the exact reader refuses: \(line.debugDescription)")
                        return
                    }
                    #expect(fast.time == exact.time && fast.type == exact.type && fast.size == exact.size)
                    #expect(Array(fast.path) == Array(exact.path), "\(line.debugDescription)")
                    #expect(fast.pathOffset == lineBytes.count)
                }
            }
        }
    }

    @Test("two threads report the error one thread reports, wherever it is, and read the same records")
    func twoThreads() throws {
        var random = ListPairs.Random(seed: 11)
        let entries = ListPairs.tree(count: 6_000, random: &random)
        let good = ListPairs.render(entries)
        // Read in two halves from 64 KiB rather than 4 MiB: the same split, a tenth the lines.
        let twoThreadsFrom = 64 << 10
        #expect(good.count > twoThreadsFrom)
        let reference = try CompactFileList(parsing: good)
        let validated = try CompactFileList(validating: good, source: nil, twoThreadsFrom: twoThreadsFrom)
        #expect(validated.count == reference.count)
        #expect(validated.filesStart == reference.filesStart)
        for index in Swift.stride(from: 0, to: entries.count, by: 97) {
            #expect(validated.path(index) == reference.path(index))
            #expect(validated.time(index) == reference.time(index))
        }
        // Where the halves meet: the line the second half starts with, and the one before it.
        let middle = good.count / 2
        let split = good[middle...].firstIndex(of: 0x0A)! + 1
        let splitLine = good[..<split].filter { $0 == 0x0A }.count - 4
        var cases: [[UInt8]] = []
        for index in [0, 1, 100, splitLine - 1, splitLine, splitLine + 1, entries.count - 1] {
            cases.append(ListPairs.replacingLine(index, with: "1\tf\t1\t../x", in: good))
        }
        // Cut in the second half; [Files] ending in the first half, with a second half of
        // checksum lines (valid, and not).
        cases.append(Array(good[..<(split + 100)]))
        let short = ListPairs.render(Array(entries.prefix(100)))
        let checksumLines = String(
            repeating: "\(String(repeating: "ab", count: 20))\tlinux/a\n", count: 12_000)
        let trailer = "\n[Checksums SHA1]\n" + checksumLines + "\n[End]\n"
        let head = Array(short[..<(short.firstRange(of: Array("\n\n[Checksums".utf8))!.lowerBound + 1)])
        cases.append(head + Array(trailer.utf8))
        cases.append(head + Array(trailer.replacingOccurrences(of: "ab\tlinux/a\n[End]", with: "ab\t/a\n[End]").utf8))
        cases.append(head + Array(trailer.utf8) + Array("x\n".utf8))
        for (number, list) in cases.enumerated() {
            let expected = Result { try CompactFileList(parsing: list, source: "s") }
            let actual = Result { try CompactFileList(validating: list, source: "s", twoThreadsFrom: twoThreadsFrom) }
            switch (expected, actual) {
            case (.success(let a), .success(let b)):
                #expect(a.count == b.count && a.checksums == b.checksums, "case \(number)")
            case (.failure(let a), .failure(let b)):
                #expect(a as? FileListError == b as? FileListError, "case \(number)")
            default:
                Issue.record("case \(number): \(expected) but \(actual)")
            }
        }
    }

    @Test("times and sizes past 32 bits (a DVD image, a time after 2106) read back exactly, on one thread and two")
    func valuesPast32Bits() throws {
        var random = ListPairs.Random(seed: 12)
        var entries = ListPairs.tree(count: 60_000, random: &random)
        // Wide values on both sides of where the halves meet, and at both ends.
        let wide: [(time: Int64, size: Int64)] = [
            (4_294_967_296, 5), (1_700_000_000, 4_294_967_296), (999_999_999_999_999_999, 999_999_999_999_999_999),
            (4_294_967_295, 4_294_967_295), (0, 8_589_934_593),
        ]
        for (number, index) in [0, 7, 29_999, 30_000, 30_001, 45_000, entries.count - 1].enumerated() {
            entries[index].time = wide[number % wide.count].time
            entries[index].size = wide[number % wide.count].size
        }
        for count in [500, entries.count] {
            let bytes = ListPairs.render(Array(entries.prefix(count)))
            let expected = try FileListReader.parse(bytes).entries
            let list = try CompactFileList(validating: bytes)
            #expect(list.count == expected.count)
            for (index, entry) in expected.enumerated() {
                guard
                    list.time(index) != entry.time || list.size(index) != entry.size || list.type(index) != entry.type
                        || Array(list.path(index)) != entry.path
                else { continue }
                Issue.record(
                    "line \(index): \(list.time(index)) \(list.size(index)), expected \(entry.time) \(entry.size)")
                break
            }
        }
        // A file's size that changes only above 32 bits (4 GiB + 7 to 8 GiB + 7) is a change.
        let target = try #require((29_990...).first { entries[$0].type.kind == .file })
        entries[target].size = 4_294_967_296 + 7
        let old = ListPairs.render(entries)
        var changed = entries
        changed[target].size += 4_294_967_296
        let outcome = try Self.walk(old: old, new: ListPairs.render(changed), seed: 3)
        guard case .compared(let diff) = outcome else {
            Issue.record("\(outcome)")
            return
        }
        #expect(diff.addedOrChanged == [target])
    }
}
