import Crypto
import FileList
import ListProtocol
import Testing
import TreeFixtures

/// The list digest (docs/FORMAT.md): the Swift digester against `Scripts/list-digest.py`,
/// written apart from it from the same rule, and the property the construction exists
/// for: a change of one line changes one segment.
@Suite("the list digest: segments cut by content, one digest over theirs", .ownThread)
struct ListDigestTests {
    /// A time list shaped like a mirror's: directories of 1-40 files below a few levels,
    /// each directory's files in one block, checksum sections and `[End]`.
    static func timeList(seed: UInt64, directories: Int = 300) -> [UInt8] {
        var random = SeededRandom(seed: seed)
        var text = "[Version]\n2\n\n[Files]\n"
        text += "1700000000\td\t4096\tlinux\n1700000000\tf\t12\tREADME\n"
        var checksummed: [String] = []
        for number in 0..<directories {
            let directory = "linux/releases/\(number % 7)/Everything/x86_64/os/Packages/d\(number)"
            for file in 0..<Int(random.next() % 40 + 1) {
                let time = 1_700_000_000 + random.next() % 1_000_000
                let type = ["f", "f", "f", "l", "d", "f-", "f*"][Int(random.next() % 7)]
                text += "\(time)\t\(type)\t\(random.next() % 100_000)\t\(directory)/pkg-\(file)-1.0.rpm\n"
            }
            if number % 50 == 0 { checksummed.append("\(directory)/repodata/repomd.xml") }
        }
        text += "\n[Checksums SHA1]\n"
        for path in checksummed { text += String(repeating: "a", count: 40) + "\t\(path)\n" }
        text += "\n[Checksums SHA256]\n"
        for path in checksummed { text += String(repeating: "b", count: 64) + "\t\(path)\n" }
        text += "\n[End]\n"
        return Array(text.utf8)
    }

    @Test("the same digest as list-digest.py, for time lists, path lists and odd inputs", arguments: Array(1...12))
    func matchesTheReference(seed: UInt64) throws {
        var inputs = [Self.timeList(seed: seed)]
        // A path list (`./` prefixes, no sections), and the same list without its last newline.
        let paths = Self.timeList(seed: seed).split(separator: 0x0A).compactMap { line -> [UInt8]? in
            guard let tab = line.lastIndex(of: 0x09), line.filter({ $0 == 0x09 }).count == 3 else { return nil }
            return Array("./".utf8) + line[(tab + 1)...] + [0x0A]
        }.flatMap { $0 }
        inputs.append(paths)
        inputs.append(Array(paths.dropLast()))
        if seed == 1 {
            inputs += [[], [0x0A], Array("\n\n\n".utf8), Array("no newline".utf8), Array("a/b\tc/d/e\n\n./x/y\n".utf8)]
        }
        for input in inputs {
            let swift = ListDigest.hex(of: input)
            #expect(swift == (try ReferenceDigest.digest(of: input)), "input of \(input.count) bytes")
            // In chunks of any size, the same.
            var digester = ListDigester()
            var random = SeededRandom(seed: seed)
            var start = 0
            while start < input.count {
                let end = min(input.count, start + Int(random.next() % 5000) + 1)
                digester.update(Array(input[start..<end]))
                start = end
            }
            let (chunked, segments) = digester.finish()
            #expect(chunked == swift)
            #expect(segments.reduce(0) { $0 + $1.length } == input.count)
        }
    }

    @Test("an empty list's digest is the SHA-256 of nothing")
    func empty() {
        #expect(ListDigest.hex(of: []) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test("a changed time, a new line or a removed line changes one segment, or two around a new boundary")
    func changesStayLocal() {
        let list = Self.timeList(seed: 7, directories: 2000)
        var original = ListDigester()
        original.update(list)
        let before = original.finish().segments
        #expect(before.count > 20, "segments: \(before.count)")
        var lines = list.split(separator: 0x0A, omittingEmptySubsequences: false).map(Array.init)
        let target = lines.firstIndex { String(decoding: $0, as: UTF8.self).contains("/d1000/pkg-0-") }!
        // A new time, the same length.
        lines[target].replaceSubrange(0..<10, with: Array("1799999999".utf8))
        let changed = Array(lines.joined(separator: [0x0A]))
        var after = ListDigester()
        after.update(changed)
        let segments = after.finish().segments
        #expect(segments.count == before.count)
        #expect(zip(before, segments).filter { $0.digest != $1.digest }.count == 1)
        // A line more in the same directory: one segment longer, the others shift.
        lines.insert(
            Array("1700000000\tf\t1\tlinux/releases/6/Everything/x86_64/os/Packages/d1000/new.rpm".utf8), at: target)
        var grown = ListDigester()
        grown.update(Array(lines.joined(separator: [0x0A])))
        let grownSegments = grown.finish().segments
        let old = Set(before.map { Array($0.digest) })
        #expect(grownSegments.filter { !old.contains(Array($0.digest)) }.count == 1)
    }

    /// Line ranges of `bytes`: where each line starts, and the end.
    static func lineStarts(_ bytes: [UInt8]) -> [Int] {
        var starts = [0]
        for (index, byte) in bytes.enumerated() where byte == 0x0A { starts.append(index + 1) }
        if starts.last != bytes.count { starts.append(bytes.count) }
        return starts
    }

    /// 10 seeds, 60 with `QUICKMIRROR_STRESS=1`.
    @Test("segments found from the old ones after replacements are those of the new bytes cut afresh",
          arguments: Array(1...(SharedTools.stress ? 60 : 10)))
    func resegmentingMatchesAFreshCut(seed: UInt64) throws {
        var random = SeededRandom(seed: seed &* 7919)
        let old = Self.timeList(seed: seed, directories: 600)
        let oldSegments = { var d = ListDigester(); d.update(old); return d.finish().segments }()
        #expect(oldSegments.count > 20, "too few segments to test: \(oldSegments.count)")
        let starts = Self.lineStarts(old)
        // Replacements of whole lines: removals, insertions (also at the very start and
        // end, and next to each other), changes, runs of many lines, and new empty lines.
        var replacements: [ListSplice] = []
        var line = Int(random.next() % 3)
        while line < starts.count - 1 {
            let span = [0, 0, 1, 1, 1, 2, 5, 60][Int(random.next() % 8)]
            let upper = min(line + span, starts.count - 1)
            var bytes: [UInt8] = []
            for _ in 0..<Int(random.next() % 3) {
                let directory = random.next() % 5 == 0 ? "new/d\(random.next() % 1000)" : "linux/releases/1/d\(line)"
                bytes += Array("\(1_700_000_000 + random.next() % 99)\tf\t1\t\(directory)/x\(random.next())\n".utf8)
                if random.next() % 40 == 0 { bytes += [0x0A] }
            }
            replacements.append(ListSplice(range: starts[line]..<starts[upper], bytes: bytes))
            line = upper + Int(random.next() % UInt64([1, 2, 40, 400][Int(random.next() % 4)]))
        }
        if random.next() % 2 == 0 { replacements.append(ListSplice(range: old.count..<old.count, bytes: Array("1\tf\t1\tz/z\n".utf8))) }
        var new: [UInt8] = []
        var position = 0
        for replacement in replacements {
            new += old[position..<replacement.range.lowerBound]
            new += replacement.bytes
            position = replacement.range.upperBound
        }
        new += old[position...]
        let fresh = { var d = ListDigester(); d.update(new); return d.finish().segments }()
        let found = old.withUnsafeBytes {
            ListSegmentRule.segments(of: $0, oldSegments: oldSegments, after: replacements)
        }
        #expect(found == fresh, "\(replacements.count) replacements: \(found.count) segments, afresh \(fresh.count)")
        #expect(ListDigest.combine(found.map(\.digest)) == ListDigest.hex(of: new))
    }

    @Test("no replacement keeps the segments; a list from nothing is cut afresh")
    func resegmentingEdges() {
        let old = Self.timeList(seed: 3)
        let segments = { var d = ListDigester(); d.update(old); return d.finish().segments }()
        #expect(old.withUnsafeBytes { ListSegmentRule.segments(of: $0, oldSegments: segments, after: []) } == segments)
        let fromNothing = [UInt8]().withUnsafeBytes {
            ListSegmentRule.segments(of: $0, oldSegments: [], after: [ListSplice(range: 0..<0, bytes: old)])
        }
        #expect(fromNothing == segments)
    }
}

/// quick-mirror's records of the lists it installed (`InstalledListRecord`): what it reads
/// back is what it wrote, and anything else is refused whole rather than half-used.
@Suite("installed list records: written and read back, damaged ones refused")
struct InstalledListRecordTests {
    static func records() -> [InstalledListRecord] {
        let list = ListDigestTests.timeList(seed: 4)
        var digester = ListDigester()
        digester.update(list)
        let (digest, segments) = digester.finish()
        return [
            InstalledListRecord(
                path: "fedora/fullfiletimelist-fedora", identity: "12:\(list.count):1700000000.5", digest: digest,
                entries: 400, segments: segments, recentSince: 1_700_000_100,
                recentLines: Array("1700000200\tf\t3\tlinux/a\n".utf8), delta: Array("delta bytes\n\t".utf8)),
            InstalledListRecord(
                path: "alt/fullfiletimelist-alt", identity: "13:0:1.0", digest: ListDigest.hex(of: [UInt8]()),
                entries: 0, segments: [], recentSince: nil, recentLines: [], delta: nil),
        ]
    }

    @Test("a round trip keeps every field, segment offsets included")
    func roundTrip() {
        let records = Self.records()
        #expect(InstalledListRecord.decode(InstalledListRecord.encode(records)) == records)
        #expect(InstalledListRecord.decode(InstalledListRecord.encode([])) == [])
    }

    @Test("truncated, foreign or damaged bytes decode to nothing")
    func damaged() {
        let bytes = InstalledListRecord.encode(Self.records())
        for cut in stride(from: 1, to: bytes.count, by: max(1, bytes.count / 97)) where cut != bytes.count {
            let decoded = InstalledListRecord.decode(Array(bytes[..<cut]))
            // A cut between records reads the first whole; any other cut is refused.
            #expect(decoded == nil || decoded == [Self.records()[0]], "cut at \(cut)")
        }
        #expect(InstalledListRecord.decode(Array("quick-mirror installed lists 2\n".utf8)) == nil)
        // Counts past the end, or past what an Int holds, are refused rather than trapped on.
        let empty = ListDigest.hex(of: [UInt8]())
        for counts in ["0\t-\t9223372036854775807\t1", "0\t-\t0\t9223372036854775807", "230584300921369395\t-\t0\t-"] {
            let header = "quick-mirror installed lists 1\na\t1:1:1.0\t\(empty)\t0\t\(counts)\n"
            #expect(InstalledListRecord.decode(Array(header.utf8) + [UInt8](repeating: 1, count: 200)) == nil, "\(counts)")
        }
        // Segments that are not the digest's own.
        var other = Self.records()
        other[0].digest = empty
        #expect(InstalledListRecord.decode(InstalledListRecord.encode(other)) == nil)
        var badDigest = bytes
        let header = Array("quick-mirror installed lists 1\nfedora/fullfiletimelist-fedora\t".utf8)
        badDigest[header.count + 20] = 0x5A  // inside the identity: still a record
        #expect(InstalledListRecord.decode(badDigest) != nil)
        let tab = bytes.firstIndex(of: 0x09)!
        var noDigest = bytes
        noDigest.replaceSubrange((tab + 1)..<(tab + 1), with: Array("x".utf8))
        #expect(InstalledListRecord.decode(noDigest) == nil || InstalledListRecord.decode(noDigest)?.first?.identity != Self.records()[0].identity)
    }
}
