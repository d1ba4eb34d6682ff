import FileList
import Testing
import TreeFixtures

#if canImport(Glibc)
    import Glibc
#endif

/// A tree as a list describes it, kept flat: path bytes to line fields. Rendering groups
/// entries by parent and writes each directory's children as a block sorted by name
/// bytes, blocks in pre-order: the generator's order, reached without `FileListOrder`.
struct ListModel {
    struct Fields: Equatable {
        var time: Int64
        var type: EntryType
        var size: Int64
    }

    var version = 2
    var entries: [[UInt8]: Fields] = [:]
    var checksums: [[UInt8]: String] = [:]

    /// Paths in byte order, so that random picks do not depend on Dictionary's seed.
    var sortedPaths: [[UInt8]] { entries.keys.sorted { $0.lexicographicallyPrecedes($1) } }
    var directories: [[UInt8]] { sortedPaths.filter { entries[$0]!.type.kind == .directory } }

    func rendered() -> [UInt8] {
        var children: [[UInt8]: [[UInt8]]] = [:]
        for path in entries.keys {
            let slash = path.lastIndex(of: 0x2F)
            children[slash.map { Array(path[..<$0]) } ?? [], default: []].append(
                Array(path[(slash.map { $0 + 1 } ?? 0)...]))
        }
        var out: [UInt8] = []
        FileListFormat.appendHeader(version: version, to: &out)
        func block(_ parent: [UInt8]) {
            let names = (children[parent] ?? []).sorted { $0.lexicographicallyPrecedes($1) }
            let prefix = parent.isEmpty ? [] : parent + [0x2F]
            for name in names {
                let fields = entries[prefix + name]!
                FileListFormat.appendLine(
                    FileListEntry(time: fields.time, type: fields.type, size: fields.size, path: prefix + name),
                    to: &out)
            }
            for name in names where entries[prefix + name]!.type.kind == .directory { block(prefix + name) }
        }
        block([])
        let sums = checksums.map { FileChecksum(path: $0.key, hex: [.sha1: $0.value]) }
        FileListFormat.appendTrailer(checksums: sums, to: &out)
        return out
    }

    /// How many paths were added, removed or changed since `old`: the edits a delta needs.
    func changes(since old: ListModel) -> Int {
        let removed = old.entries.keys.filter { entries[$0] == nil }.count
        return removed + entries.filter { old.entries[$0.key] != $0.value }.count
    }

    static func random(using random: inout SplitMix) -> ListModel {
        var model = ListModel()
        for _ in 0..<Int.random(in: 0...120, using: &random) { model.add(using: &random) }
        return model
    }

    /// Names with the bytes that make the order subtle: '.', '-', ' ' sort below '/'
    /// in plain byte order; NFC and NFD spellings; a byte that is not UTF-8.
    static let nameBytes: [[UInt8]] = [
        [0x61], [0x62], [0x2E], [0x2D], [0x20], [0x5F], [0x41], [0x30], [0x7E], [0xC3, 0xA9], [0x65, 0xCC, 0x81],
        [0xFF],
    ]

    static func randomName(using random: inout SplitMix) -> [UInt8] {
        while true {
            let name = (0..<Int.random(in: 1...3, using: &random)).flatMap { _ in
                nameBytes.randomElement(using: &random)!
            }
            if name != [0x2E] && name != [0x2E, 0x2E] { return name }
        }
    }

    static func randomFields(_ kind: EntryKind, using random: inout SplitMix) -> Fields {
        let access = [EntryAccess.open, .open, .open, .restrictedSubtree, .notWorldReadable].randomElement(
            using: &random)!
        return Fields(
            time: Int64.random(in: 1_600_000_000...1_700_000_000, using: &random), type: EntryType(kind, access),
            size: kind == .directory ? 4096 : Int64.random(in: 0...1_000_000, using: &random))
    }

    /// A file or an empty directory in a random directory (or at the top).
    mutating func add(using random: inout SplitMix) {
        let parents = [[]] + directories
        let parent = parents.randomElement(using: &random)!
        let path = (parent.isEmpty ? [] : parent + [0x2F]) + Self.randomName(using: &random)
        guard entries[path] == nil else { return }
        let kind: EntryKind =
            Bool.random(using: &random) ? .directory : [.file, .file, .symlink].randomElement(using: &random)!
        entries[path] = Self.randomFields(kind, using: &random)
    }

    mutating func remove(_ path: [UInt8]) {
        let below = path + [0x2F]
        for key in entries.keys where key == path || key.starts(with: below) {
            entries[key] = nil
            checksums[key] = nil
        }
    }

    mutating func mutate(using random: inout SplitMix) {
        for _ in 0..<Int.random(in: 0...12, using: &random) {
            let paths = sortedPaths
            switch Int.random(in: 0..<9, using: &random) {
            case 0, 1:
                add(using: &random)
            case 2:
                // A new subtree.
                add(using: &random)
                for _ in 0..<4 { add(using: &random) }
            case 3 where !paths.isEmpty:
                entries[paths.randomElement(using: &random)!]!.time += 1
            case 4 where !paths.isEmpty:
                let path = paths.randomElement(using: &random)!
                entries[path] = Self.randomFields(entries[path]!.type.kind, using: &random)
            case 5 where !paths.isEmpty:
                // A whole subtree, when the pick is a directory.
                remove(paths.randomElement(using: &random)!)
            case 6 where !paths.isEmpty:
                // A file becomes a directory of the same name, or the other way round.
                let path = paths.randomElement(using: &random)!
                let kind: EntryKind = entries[path]!.type.kind == .directory ? .file : .directory
                remove(path)
                entries[path] = Self.randomFields(kind, using: &random)
            case 7:
                version = version == 2 ? 3 : 2
            default:
                let files = paths.filter { entries[$0]!.type.kind == .file }
                guard let path = files.randomElement(using: &random) else { continue }
                checksums[path] =
                    checksums[path] == nil || Bool.random(using: &random)
                    ? String((0..<40).map { _ in "0123456789abcdef".randomElement(using: &random)! }) : nil
            }
        }
    }
}

/// A seeded generator, so that a failing seed can be run again.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

@Suite("A delta turns one canonical list into the next, byte for byte", .ownThread)
struct FileListDeltaTests {
    @Test("random lists: the delta applied to the old list gives the new one, and survives encoding", arguments: 0..<60)
    func roundTrip(seed: UInt64) throws {
        var random = SplitMix(seed: seed)
        let old = ListModel.random(using: &random)
        var new = old
        new.mutate(using: &random)
        let delta = try FileListDelta.make(
            from: old.rendered(), to: new.rendered(), base: "old-\(seed)", result: "new-\(seed)")
        #expect(try delta.applied(to: old.rendered()) == new.rendered())
        #expect(delta.editCount == new.changes(since: old))
        let encoded = delta.encoded()
        #expect(encoded.count == delta.encodedByteCount)
        let decoded = try FileListDelta(decoding: encoded, source: "seed \(seed)")
        #expect(decoded == delta)
        #expect(try decoded.applied(to: old.rendered()) == new.rendered())
    }

    @Test("random lists: the delta as splices found by binary search gives the new list too", arguments: 0..<60)
    func splices(seed: UInt64) throws {
        var random = SplitMix(seed: seed)
        let old = ListModel.random(using: &random)
        var new = old
        new.mutate(using: &random)
        let oldBytes = old.rendered()
        let delta = try FileListDelta.make(from: oldBytes, to: new.rendered(), base: "old", result: "new")
        let patched = try oldBytes.withUnsafeBufferPointer { buffer in
            let files = try #require(FilesSection.locate(in: buffer))
            var out: [UInt8] = []
            var copied = 0
            for splice in try delta.splices(in: buffer, files: files) {
                #expect(splice.range.lowerBound >= copied, "splices in order, not overlapping")
                out += buffer[copied..<splice.range.lowerBound]
                out += splice.bytes
                copied = splice.range.upperBound
            }
            out += buffer[copied...]
            return out
        }
        #expect(patched == new.rendered())
    }

    @Test("a splice of a path the old list lacks (or has, for an add) is refused, as applying is")
    func splicesRefuseTheWrongBase() throws {
        let a = FileListFormat.render(entries: [FileListEntry(time: 1, type: EntryType(.file), size: 1, path: "a")])
        let b = FileListFormat.render(entries: [FileListEntry(time: 2, type: EntryType(.file), size: 1, path: "a")])
        let other = FileListFormat.render(entries: [FileListEntry(time: 1, type: EntryType(.file), size: 1, path: "z")])
        let delta = try FileListDelta.make(from: a, to: b, base: "a", result: "b")
        #expect(throws: FileListDeltaError.self) {
            try other.withUnsafeBufferPointer { buffer in
                try delta.splices(in: buffer, files: FilesSection.locate(in: buffer)!)
            }
        }
    }

    @Test("three deltas composed, either way round, give what the direct delta gives", arguments: 0..<40)
    func composition(seed: UInt64) throws {
        var random = SplitMix(seed: seed)
        var models = [ListModel.random(using: &random)]
        for _ in 0..<3 {
            var next = models.last!
            next.mutate(using: &random)
            models.append(next)
        }
        let lists = models.map { $0.rendered() }
        let steps = try (0..<3).map { index in
            try FileListDelta.make(from: lists[index], to: lists[index + 1], base: "g\(index)", result: "g\(index + 1)")
        }
        let left = try steps[0].followed(by: steps[1]).followed(by: steps[2])
        let right = try steps[0].followed(by: steps[1].followed(by: steps[2]))
        let direct = try FileListDelta.make(from: lists[0], to: lists[3], base: "g0", result: "g3")
        for composed in [left, right] {
            #expect(composed.base == "g0" && composed.result == "g3")
            #expect(try composed.applied(to: lists[0]) == lists[3])
            #expect(try composed.applied(to: lists[0]) == direct.applied(to: lists[0]))
            #expect(try FileListDelta(decoding: composed.encoded()) == composed)
        }
    }

    @Test("an add then a remove cancels; a change then a remove is a removal; a remove then an add is a change")
    func compositionRules() throws {
        let a = FileListFormat.render(entries: [
            FileListEntry(time: 1, type: EntryType(.file), size: 1, path: "kept"),
            FileListEntry(time: 1, type: EntryType(.file), size: 1, path: "x"),
        ])
        let b = FileListFormat.render(entries: [
            FileListEntry(time: 1, type: EntryType(.file), size: 1, path: "kept"),
            FileListEntry(time: 2, type: EntryType(.file), size: 1, path: "new"),
        ])
        let c = FileListFormat.render(entries: [
            FileListEntry(time: 1, type: EntryType(.file), size: 1, path: "kept"),
            FileListEntry(time: 3, type: EntryType(.file), size: 1, path: "x"),
        ])
        let composed = try FileListDelta.make(from: a, to: b, base: "a", result: "b")
            .followed(by: FileListDelta.make(from: b, to: c, base: "b", result: "c"))
        #expect(composed.editCount == 1)
        #expect(try composed.applied(to: a) == c)
        #expect(String(decoding: composed.encoded(), as: UTF8.self).contains("~\t3\tf\t1\tx\n"))
    }

    @Test("the encoding, byte for byte")
    func exampleEncoding() throws {
        let old = FileListFormat.render(entries: [
            FileListEntry(time: 100, type: EntryType(.directory), size: 4096, path: "pub"),
            FileListEntry(time: 100, type: EntryType(.file), size: 10, path: "pub/gone.rpm"),
            FileListEntry(time: 100, type: EntryType(.file), size: 10, path: "pub/repomd.xml"),
        ])
        let new = FileListFormat.render(
            entries: [
                FileListEntry(time: 200, type: EntryType(.directory), size: 4096, path: "pub"),
                FileListEntry(time: 200, type: EntryType(.file, .notWorldReadable), size: 12, path: "pub/new.rpm"),
                FileListEntry(time: 100, type: EntryType(.file), size: 10, path: "pub/repomd.xml"),
            ],
            checksums: [FileChecksum(path: bytes("pub/repomd.xml"), hex: [.sha1: String(repeating: "ab", count: 20)])])
        let delta = try FileListDelta.make(from: old, to: new, base: "sha256:1111", result: "sha256:2222")
        let tail = "\n[Checksums SHA1]\n\(String(repeating: "ab", count: 20))\tpub/repomd.xml\n\n[End]\n"
        let expected = """
            quickmirror-filelist-delta\t1
            base\tsha256:1111
            result\tsha256:2222
            head\tsame
            edits\t3
            ~\t200\td\t4096\tpub
            -\tpub/gone.rpm
            +\t200\tf-\t12\tpub/new.rpm
            tail\t\(tail.utf8.count)
            \(tail)
            end

            """
        #expect(String(decoding: delta.encoded(), as: UTF8.self) == expected)
        #expect(delta.editCount == 3)
    }

    @Test("the same list twice gives an empty delta")
    func unchanged() throws {
        var random = SplitMix(seed: 7)
        let list = ListModel.random(using: &random).rendered()
        let delta = try FileListDelta.make(from: list, to: list, base: "x", result: "x")
        #expect(delta.editCount == 0)
        #expect(delta.encodedByteCount < 100)
        #expect(try delta.applied(to: list) == list)
    }

    @Test("a list's last line without its newline comes back as it was")
    func tailWithoutFinalNewline() throws {
        let old = FileListFormat.render(entries: [FileListEntry(time: 1, type: EntryType(.file), size: 1, path: "a")])
        let new = Array(old.dropLast())
        let delta = try FileListDelta.make(from: old, to: new, base: "a", result: "b")
        let decoded = try FileListDelta(decoding: delta.encoded())
        #expect(try decoded.applied(to: old) == new)
    }

    // MARK: Refusals

    /// Directory-read order, as the reference generator writes it: a child before its parent.
    static let referenceOrder = bytes(
        "[Version]\n2\n\n[Files]\n1\tf\t1\ta/x\n1\td\t4096\ta\n\n[Checksums SHA1]\n\n[End]\n")
    static let canonical = bytes("[Version]\n2\n\n[Files]\n1\td\t4096\ta\n1\tf\t1\ta/x\n\n[Checksums SHA1]\n\n[End]\n")

    @Test("a list that is not in canonical order gets no delta, and takes none")
    func nonCanonicalRefused() throws {
        let made = #expect(throws: FileListDeltaError.self) {
            try FileListDelta.make(from: Self.canonical, to: Self.referenceOrder, base: "a", result: "b")
        }
        #expect(made?.source == "new list b")
        #expect(made?.line == 6)
        #expect(made?.problem == .notInOrder(path: "a", previous: "a/x"))
        #expect(
            made?.description
                == "new list b: line 6: 'a' comes after 'a/x': [Files] is not in canonical order (parent, then name)")

        let delta = try FileListDelta.make(from: Self.canonical, to: Self.canonical, base: "a", result: "a")
        let applied = #expect(throws: FileListDeltaError.self) { try delta.applied(to: Self.referenceOrder) }
        #expect(applied?.source == "old list a")
        #expect(applied?.line == 6)
    }

    @Test("plain byte order is not canonical: 'a/b' comes before 'a.b/c'")
    func byteOrderRefused() {
        let list = bytes(
            "[Version]\n2\n\n[Files]\n1\td\t1\ta\n1\td\t1\ta.b\n1\tf\t1\ta.b/c\n1\tf\t1\ta/b\n\n[Checksums SHA1]\n\n[End]\n"
        )
        let error = #expect(throws: FileListDeltaError.self) {
            try FileListDelta.make(from: list, to: Self.canonical, base: "a", result: "b")
        }
        #expect(error?.line == 8)
        #expect(error?.problem == .notInOrder(path: "a/b", previous: "a.b/c"))
    }

    @Test("a path listed twice is refused")
    func duplicateRefused() {
        let list = bytes("[Version]\n2\n\n[Files]\n1\td\t4096\ta\n2\td\t4096\ta\n\n[Checksums SHA1]\n\n[End]\n")
        let error = #expect(throws: FileListDeltaError.self) {
            try FileListDelta.make(from: list, to: Self.canonical, base: "a", result: "b")
        }
        #expect(error?.problem == .duplicatePath("a"))
        #expect(error?.line == 6)

        // A copy of the old list's line, once too often: the new list's copies of old
        // lines are not checked again, this one must be.
        let twice = bytes(
            "[Version]\n2\n\n[Files]\n1\td\t4096\ta\n1\tf\t1\ta/x\n1\tf\t1\ta/x\n\n[Checksums SHA1]\n\n[End]\n")
        let copied = #expect(throws: FileListDeltaError.self) {
            try FileListDelta.make(from: Self.canonical, to: twice, base: "a", result: "b")
        }
        #expect(copied?.problem == .duplicatePath("a/x"))
        #expect(copied?.line == 7)
        #expect(copied?.source == "new list b")
    }

    @Test("a malformed list is refused with the reader's reason")
    func malformedListRefused() {
        let truncated = Array(Self.canonical.dropLast(6))
        let error = #expect(throws: FileListDeltaError.self) {
            try FileListDelta.make(from: Self.canonical, to: truncated, base: "a", result: "b")
        }
        #expect(error?.problem == .list(.truncated))
        #expect(error?.source == "new list b")
    }

    @Test("identifiers that would break the encoding are refused")
    func badIdentifier() {
        #expect(throws: FileListDeltaError(problem: .badIdentifier("two words"))) {
            try FileListDelta.make(from: Self.canonical, to: Self.canonical, base: "two words", result: "b")
        }
    }

    @Test("applied to a list that is not its base, a delta says which edit does not fit")
    func wrongBase() throws {
        let other = bytes("[Version]\n2\n\n[Files]\n1\td\t4096\tb\n\n[Checksums SHA1]\n\n[End]\n")
        let removal = try FileListDelta.make(from: Self.canonical, to: other, base: "one", result: "two")
        // head same, edits line 5: '-\ta' is line 6.
        let error = #expect(throws: FileListDeltaError.self) { try removal.applied(to: other) }
        #expect(error?.problem == .notInOldList("a"))
        #expect(error?.line == 6)
        #expect(error?.source == "delta one -> two")
        let addition = try FileListDelta.make(from: other, to: Self.canonical, base: "two", result: "one")
        let added = #expect(throws: FileListDeltaError.self) { try addition.applied(to: Self.canonical) }
        #expect(added?.problem == .alreadyInOldList("a"))
    }

    @Test("deltas compose only when one starts where the other ends")
    func notConsecutive() throws {
        let first = try FileListDelta.make(from: Self.canonical, to: Self.canonical, base: "a", result: "b")
        let second = try FileListDelta.make(from: Self.canonical, to: Self.canonical, base: "c", result: "d")
        #expect(throws: FileListDeltaError(problem: .notConsecutive(result: "b", nextBase: "c"))) {
            try first.followed(by: second)
        }
    }

    struct DecodingCase: Sendable, CustomTestStringConvertible {
        var name: String
        var text: String
        var line: Int
        var problem: FileListDeltaError.Problem
        var testDescription: String { name }
    }

    static let header = "quickmirror-filelist-delta\t1\nbase\ta\nresult\tb\nhead\tsame\n"

    /// A head or tail part: its byte count, its bytes and the separating newline.
    static func part(_ name: String, _ text: String) -> String { "\(name)\t\(text.utf8.count)\n\(text)\n" }

    static let decodingCases: [DecodingCase] = [
        DecodingCase(
            name: "a removal that climbs out with ..", text: header + "edits\t1\n-\t../x\ntail\tsame\nend\n", line: 6,
            problem: .list(.badPath(.parentComponent, "../x"))),
        DecodingCase(
            name: "a removal inside the path with ..", text: header + "edits\t1\n-\ta/../../x\ntail\tsame\nend\n",
            line: 6, problem: .list(.badPath(.parentComponent, "a/../../x"))),
        DecodingCase(
            name: "an absolute path in an added line", text: header + "edits\t1\n+\t1\tf\t1\t/abs\ntail\tsame\nend\n",
            line: 6, problem: .list(.badPath(.absolute, "/abs"))),
        DecodingCase(
            name: "an empty component", text: header + "edits\t2\n-\ta\n~\t1\tf\t1\tb//c\ntail\tsame\nend\n", line: 7,
            problem: .list(.badPath(.emptyComponent, "b//c"))),
        DecodingCase(
            name: "a NUL byte", text: header + "edits\t1\n-\ta\u{0}b\ntail\tsame\nend\n", line: 6,
            problem: .list(.badPath(.nulByte, "a\u{0}b"))),
        DecodingCase(
            name: "truncated before 'end'", text: header + "edits\t1\n-\tx\ntail\tsame\n", line: 8, problem: .truncated),
        DecodingCase(
            name: "truncated in an edit", text: header + "edits\t2\n-\tx\n+\t1\tf", line: 7, problem: .truncated),
        DecodingCase(
            name: "fewer edits than declared", text: header + "edits\t2\n-\tx\ntail\tsame\nend\n", line: 7,
            problem: .badEdit("tail\tsame")),
        DecodingCase(
            name: "a garbage line among the edits", text: header + "edits\t2\n-\tx\nhello world\ntail\tsame\nend\n",
            line: 7, problem: .badEdit("hello world")),
        DecodingCase(
            name: "a garbage [Files] line", text: header + "edits\t2\n-\tx\n+\thello world\ntail\tsame\nend\n", line: 7,
            problem: .list(.wrongFieldCount(1))),
        DecodingCase(
            name: "an empty added line", text: header + "edits\t1\n+\t\ntail\tsame\nend\n", line: 6,
            problem: .list(.wrongFieldCount(1))),
        DecodingCase(
            name: "a bad type", text: header + "edits\t2\n+\t1\tf\t1\ta\n+\t1\tq\t1\tb\ntail\tsame\nend\n", line: 7,
            problem: .list(.badType("q"))),
        DecodingCase(
            name: "a wrong version", text: "quickmirror-filelist-delta\t2\nbase\ta\n", line: 1,
            problem: .unsupportedVersion("2")),
        DecodingCase(name: "not a delta", text: "[Version]\n2\n", line: 1, problem: .notADelta),
        DecodingCase(name: "empty input", text: "", line: 1, problem: .truncated),
        DecodingCase(
            name: "a base with a space", text: "quickmirror-filelist-delta\t1\nbase\ta b\n", line: 2,
            problem: .badIdentifier("a b")),
        DecodingCase(
            name: "edits out of canonical order", text: header + "edits\t2\n-\ta/b/y\n-\ta/z\ntail\tsame\nend\n",
            line: 7,
            problem: .notInOrder(path: "a/z", previous: "a/b/y")),
        DecodingCase(
            name: "two edits of one path", text: header + "edits\t2\n-\ta\n+\t1\tf\t1\ta\ntail\tsame\nend\n", line: 7,
            problem: .duplicatePath("a")),
        DecodingCase(
            name: "content after end", text: header + "edits\t0\ntail\tsame\nend\nmore\n", line: 8,
            problem: .contentAfterEnd),
        DecodingCase(
            name: "a head that is not a list's header",
            text: "quickmirror-filelist-delta\t1\nbase\ta\nresult\tb\n" + part("head", "hello\n")
                + "edits\t0\ntail\tsame\nend\n", line: 5,
            problem: .badPart("the head must be the 4 lines from '[Version]' to '[Files]'")),
        DecodingCase(
            name: "a head with a version too high",
            text: "quickmirror-filelist-delta\t1\nbase\ta\nresult\tb\n" + part("head", "[Version]\n9\n\n[Files]\n")
                + "edits\t0\ntail\tsame\nend\n", line: 6, problem: .list(.unsupportedVersion(9))),
        DecodingCase(
            name: "a bad checksum line in the tail",
            text: header + "edits\t0\n" + part("tail", "\n[Checksums SHA1]\nabc\tx\n\n[End]\n") + "end\n", line: 9,
            problem: .list(.badChecksumLine("abc\tx"))),
        DecodingCase(
            name: "a tail without [End]", text: header + "edits\t0\n" + part("tail", "\n[Checksums SHA1]\n") + "end\n",
            line: 8,
            problem: .list(.truncated)),
        DecodingCase(
            name: "a byte count that does not end on a line", text: header + "edits\t0\ntail\t3\n\n[Checksums\nend\n",
            line: 8, problem: .badPart("the byte count does not end on a line: expected '\\n' after it")),
        DecodingCase(
            name: "a byte count past the end", text: header + "edits\t0\ntail\t300\n\n[End]\nend\n", line: 7,
            problem: .truncated),
    ]

    @Test("decoding refuses what a client must not act on, and names the line", arguments: decodingCases)
    func decodingRefusals(_ testCase: DecodingCase) {
        let error = #expect(throws: FileListDeltaError.self) {
            try FileListDelta(decoding: bytes(testCase.text), source: "changes?since=a")
        }
        #expect(error?.problem == testCase.problem)
        #expect(error?.line == testCase.line)
        #expect(error?.source == "changes?since=a")
        #expect(error?.description.hasPrefix("changes?since=a: line \(testCase.line): ") == true)
    }

    @Test("a delta cut anywhere is refused")
    func everyTruncation() throws {
        var random = SplitMix(seed: 3)
        let old = ListModel.random(using: &random)
        var new = old
        new.mutate(using: &random)
        new.version = old.version == 2 ? 3 : 2
        let encoded = try FileListDelta.make(from: old.rendered(), to: new.rendered(), base: "a", result: "b").encoded()
        for length in 0..<encoded.count {
            #expect(throws: FileListDeltaError.self) { try FileListDelta(decoding: Array(encoded[..<length])) }
        }
    }

    @Test("composing refuses edits that cannot follow each other: adding a path the first delta added")
    func conflictingComposition() throws {
        let empty = FileListFormat.render(entries: [])
        let one = FileListFormat.render(entries: [FileListEntry(time: 1, type: EntryType(.file), size: 1, path: "x")])
        let first = try FileListDelta.make(from: empty, to: one, base: "a", result: "b")
        let second = try FileListDelta.make(from: empty, to: one, base: "b", result: "c")
        let error = #expect(throws: FileListDeltaError.self) { try first.followed(by: second) }
        #expect(error?.problem == .conflictingEdit("x"))
        #expect(error?.source == "delta b -> c")
        #expect(error?.line == 6)
    }

    // MARK: Order

    @Test(
        "the canonical order: parent first (with '/' below every byte), then name",
        arguments: [
            ("a", "b"), ("b", "a/a"), ("a/z", "a/b/y"), ("a", "a.b"), ("a.b", "a/b"), ("a/b", "a.b/a"),
            ("a/b", "a-b/a"),
            ("a b", "a/b"), ("z", "a/a"), ("a/b/c", "a.b/a"), ("A", "a"), ("a/a", "a!/a"),
        ])
    func order(first: String, second: String) {
        #expect(FileListOrder.inOrder(bytes(first), bytes(second)))
        #expect(!FileListOrder.inOrder(bytes(second), bytes(first)))
        #expect(!FileListOrder.inOrder(bytes(first), bytes(first)))
    }

    @Test("the order compares bytes: NFC and NFD are two names, and long shared parents compare right")
    func orderOnBytes() {
        let nfc = bytes("caf\u{E9}")
        let nfd = bytes("cafe\u{301}")
        #expect(FileListOrder.inOrder(nfd, nfc))
        let parent = String(repeating: "long-directory-name/", count: 5)
        #expect(FileListOrder.inOrder(bytes(parent + "x"), bytes(parent + "y")))
        #expect(FileListOrder.inOrder(bytes(parent + "z"), bytes(parent + "a/a")))
        #expect(FileListOrder.inOrder(bytes(parent + "a/z"), bytes(String(parent.dropLast()) + ".b/a")))
    }
}

/// A delta reads [Files] with its own one-pass checks (for speed); the reader stays the
/// authority. These compare the two on damaged lists.
@Suite("A delta refuses a list exactly where and why the reader does", .ownThread)
struct FileListDeltaReaderAgreementTests {
    static let valid = FileListFormat.render(entries: [])

    /// The reader's verdict against the delta's, for a list given as the old one, or as
    /// the new one after `old` (whose lines a delta checks once for both lists).
    static func compare(_ list: [UInt8], after old: [UInt8]? = nil) {
        var readerError: FileListError?
        do throws(FileListError) {
            _ = try FileListReader.parse(list)
        } catch {
            readerError = error
        }
        do throws(FileListDeltaError) {
            if let old {
                _ = try FileListDelta.make(from: old, to: list, base: "a", result: "b")
            } else {
                _ = try FileListDelta.make(from: list, to: valid, base: "a", result: "b")
            }
            #expect(readerError == nil, "the reader refused what a delta took: \(readerError!)")
        } catch {
            #expect(error.source == (old == nil ? "old list a" : "new list b"))
            guard case .list(let problem) = error.problem else {
                // Out of order or twice: the reader does not check that, but must not
                // have refused an earlier line.
                #expect((readerError?.line ?? .max) >= error.line!, "\(error) but the reader: \(readerError!)")
                return
            }
            #expect(readerError?.problem == problem, "\(error)")
            #expect(readerError?.line == error.line, "\(error)")
        }
    }

    static let damage: [[UInt8]] = [
        [0x09], [0x2F], [0x2E], [0x00], [0x0A], [0x2D], [0x2A], [0x30], [0x61], [0x20], [0x5B], [0x66], [0x2F, 0x2E],
        [0x2E, 0x2E], [0x2F, 0x2F], Array("[End]\n".utf8), Array("\n[Checksums SHA1]\n".utf8),
    ]

    /// 150 seeds, 2,000 with `QUICKMIRROR_STRESS=1`.
    @Test("randomly damaged lists", arguments: 0..<UInt64(SharedTools.stress ? 2000 : 150))
    func damagedLists(seed: UInt64) {
        var random = SplitMix(seed: seed)
        let original = ListModel.random(using: &random).rendered()
        var list = original
        for _ in 0..<Int.random(in: 1...3, using: &random) {
            let position = Int.random(in: 0..<list.count, using: &random)
            switch Int.random(in: 0..<3, using: &random) {
            case 0: list.insert(contentsOf: Self.damage.randomElement(using: &random)!, at: position)
            case 1: list.remove(at: position)
            default: list[position] = Self.damage.randomElement(using: &random)!.first!
            }
        }
        Self.compare(list)
        Self.compare(list, after: original)
    }

    /// Each pattern alone and at several offsets and ends, so that it falls in the
    /// eight-byte loop at every alignment as well as in the tail loop.
    static let edgePathList: [String] = {
        let patterns = [
            "a/./b", "./a", "a/.", ".", "..", "a/..", "../a", "a//b", "a/", "/a", ".a", "..a", "a..", "a/.../b",
            "a/.b/c",
            "a\u{0}b", "\u{0}", "a/b\tc", "a\rb", "-", "a/-/.", "./", "../", "//",
        ]
        var paths = [String(repeating: "x", count: 4096), String(repeating: "x", count: 4097)]
        paths.append(String(repeating: "ab/", count: 1365) + "x")
        for pattern in patterns {
            for prefix in ["", "p/", "abcdef", "abcdefg/", "abcdefgh/", "abc/defghijk/", "a.b-c/d.e-f/"] {
                for suffix in ["", "/z", "/0123456789abcdef", "xyz"] { paths.append(prefix + pattern + suffix) }
            }
        }
        return paths
    }()

    @Test("paths at the edges of the rules")
    func edgePaths() {
        for path in Self.edgePathList { edgePath(path) }
    }

    func edgePath(_ path: String) {
        Self.compare(bytes("[Version]\n2\n\n[Files]\n1\tf\t1\t\(path)\n\n[Checksums SHA1]\n\n[End]\n"))
    }

    @Test(
        "fields at the edges of the rules",
        arguments: [
            "1\tf\t1", "\tf\t1\ta", "1\t\t1\ta", "1\tf\t\ta", "1234567890123456789\tf\t1\ta",
            "123456789012345678\tf\t123456789012345678\ta", "1\tff\t1\ta", "1\tf-\t1\ta", "1\tf*\t1\ta", "1\tf-*\t1\ta",
            "1\tx\t1\ta", "-1\tf\t1\ta", "1\tf\t+1\ta", "1 \tf\t1\ta", "1\tl\t1\ta\tb\tc",
        ])
    func edgeFields(line: String) {
        Self.compare(bytes("[Version]\n2\n\n[Files]\n\(line)\n\n[Checksums SHA1]\n\n[End]\n"))
        Self.compare(bytes("[Version]\n2\n\n[Files]\n\(line)"))
    }
}

/// Not a check: timings for a Fedora-sized list. Run in release:
/// `QUICKMIRROR_DELTA_BENCH=1 swift test -c release --filter FileListDeltaTiming`
@Suite("Delta timings on a million-line list", .serialized, .ownThread)
struct FileListDeltaTiming {
    /// A list shaped like Fedora's: a chain of directories, then `directories` package
    /// directories of `files` packages each; about 125 bytes a line.
    static func list(directories: Int, files: Int, changeEvery: Int, changed: Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(directories * files * 130)
        FileListFormat.appendHeader(to: &out)
        func line(_ time: Int64, _ kind: EntryKind, _ size: Int64, _ path: String) {
            FileListFormat.appendLine(
                FileListEntry(time: time, type: EntryType(kind), size: size, path: path), to: &out)
        }
        var prefix = ""
        for name in ["pub", "fedora", "linux", "releases", "40", "Everything", "x86_64", "os", "Packages"] {
            line(1_700_000_000, .directory, 4096, prefix + name)
            prefix += name + "/"
        }
        func number(_ value: Int, _ digits: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, digits - text.count)) + text
        }
        for directory in 0..<directories { line(1_700_000_000, .directory, 4096, prefix + "d" + number(directory, 4)) }
        for directory in 0..<directories {
            let base = prefix + "d" + number(directory, 4) + "/"
            for file in 0..<files {
                let index = directory * files + file
                let name = base + "package-" + number(file, 4) + "-1.0.3-1.fc40.x86_64.rpm"
                if changed && index % 1000 == 7 { continue }
                let time: Int64 = 1_700_000_000 + (changed && index % changeEvery == 0 ? 60 : 0)
                line(time, .file, Int64(index), name)
                if changed && index % 1000 == 500 { line(1_700_000_100, .file, 512, name + ".sig") }
            }
        }
        FileListFormat.appendTrailer(
            checksums: [
                FileChecksum(
                    path: Array((prefix + "repomd.xml").utf8),
                    hex: [.sha1: String(repeating: changed ? "1" : "2", count: 40)])
            ],
            to: &out)
        return out
    }

    @Test(.enabled(if: getenv("QUICKMIRROR_DELTA_BENCH") != nil), arguments: [100, 10])
    func millionLines(changeEvery: Int) throws {
        let old = Self.list(directories: 1000, files: 1000, changeEvery: changeEvery, changed: false)
        let new = Self.list(directories: 1000, files: 1000, changeEvery: changeEvery, changed: true)
        let clock = ContinuousClock()
        func best(_ work: () throws -> Void) rethrows -> Duration {
            var times: [Duration] = []
            for _ in 0..<3 { times.append(try clock.measure(work)) }
            return times.min()!
        }
        let read = best {
            _ = try? new.withUnsafeBufferPointer { try FileListReader.read($0) { _ in } }
        }
        var delta: FileListDelta?
        let make = try best { delta = try FileListDelta.make(from: old, to: new, base: "old", result: "new") }
        var applied: [UInt8] = []
        let apply = try best { applied = try delta!.applied(to: old) }
        var encoded: [UInt8] = []
        let encode = best { encoded = delta!.encoded() }
        let decode = try best { _ = try FileListDelta(decoding: encoded) }
        let unchanged = try FileListDelta.make(from: new, to: new, base: "new", result: "same")
        let composed = try best { _ = try delta!.followed(by: unchanged) }
        #expect(applied == new)
        print(
            "delta timing: \(new.count / 1_000_000) MB list, \(delta!.editCount) edits, \(encoded.count / 1000) kB encoded;",
            "read \(read), make \(make), apply \(apply), encode \(encode), decode \(decode), compose \(composed)")
    }
}
