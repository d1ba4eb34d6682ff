import FileList
import Foundation
import MirrorClient
import Testing
import TreeFixtures

/// `ListPair` walks the old list in step with the new one; before, both were parsed
/// whole and matched by sorted keys. Every plan must come out the same.
@Suite("Plans from the in-step walk equal plans from the keyed match", .ownThread)
struct PlanEquivalenceTests {
    /// Writes the old list where the installed one would be.
    static func withOldFile<T>(_ bytes: [UInt8], _ body: (String) throws -> T) throws -> T {
        let tree = try TemporaryTree("plan")
        let path = tree.path("fullfiletimelist-m")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return try body(path)
    }

    /// What the client did before: the new list parsed with keys, the old one with keys
    /// only (nil if it would not parse), matched by `FileListDiff`.
    static func keyedLists(new: [UInt8], old: [UInt8], oldFile: String) throws -> ModuleLists {
        ModuleLists(
            module: "m", directory: "m", new: try CompactFileList(parsing: new, source: "s"),
            old: try? CompactFileList(parsing: old, keysOnly: true), oldFile: oldFile)
    }

    static func planners() -> [(String, TransferPlanner)] {
        var result: [(String, TransferPlanner)] = [("plain", TransferPlanner())]
        result.append(("since", TransferPlanner(since: ListPairs.baseTime + 500_000)))
        result.append(("since 0 (-t 0)", TransferPlanner(since: 0)))
        result.append(("prebitflip", TransferPlanner(preBitflip: true)))
        let filter = try! NSRegularExpression(pattern: "/Packages/3/")
        result.append(("filter", TransferPlanner(filter: filter, since: ListPairs.baseTime + 900_000)))
        return result
    }

    static func expectSamePlans(
        _ actual: ModuleLists, _ expected: ModuleLists, _ context: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        for (name, planner) in planners() {
            let a = planner.plan([actual])
            let b = planner.plan([expected])
            #expect(a.transfers == b.transfers, "\(context), \(name): transfers", sourceLocation: sourceLocation)
            #expect(a.deletions == b.deletions, "\(context), \(name): deletions", sourceLocation: sourceLocation)
            #expect(a.localEntries == b.localEntries, "\(context), \(name)", sourceLocation: sourceLocation)
            #expect(
                a.checksums.map { $0.path } == b.checksums.map { $0.path }, "\(context), \(name)",
                sourceLocation: sourceLocation)
        }
    }

    @Test(
        "random list pairs: same order with edits, moved blocks, subtrees in and out, repeated lines, other orders",
        arguments: ListPairs.Scenario.allCases)
    func randomPairs(_ scenario: ListPairs.Scenario) throws {
        // 8 seeds a scenario, 40 with `QUICKMIRROR_STRESS=1`.
        for seed in UInt64(100)...(SharedTools.stress ? 139 : 107) {
            let (old, new) = ListPairs.pair(scenario, seed: seed, count: 400)
            let oldBytes = ListPairs.render(old)
            let newBytes = ListPairs.render(new)
            try Self.withOldFile(oldBytes) { oldFile in
                let expected = try Self.keyedLists(new: newBytes, old: oldBytes, oldFile: oldFile)
                for limit in [nil, 3] {
                    // A limit of 3 makes most pairs fall back to matching by sorted keys.
                    let actual = try ListPair.read(
                        module: "m", directory: "m", new: newBytes, source: "s", oldFile: oldFile,
                        divergenceLimit: limit)
                    Self.expectSamePlans(actual, expected, "\(scenario) seed \(seed) limit \(limit ?? -1)")
                    if limit == nil {
                        #expect(actual.inStep != nil, "walked in step")
                    } else if scenario == .shuffled {
                        #expect(actual.inStep == nil && actual.old != nil, "matched by sorted keys")
                    }
                }
            }
        }
    }

    @Test("a path the old list names twice and the new list once is kept, in step and by keys")
    func repeatedOldPathIsKept() throws {
        let head = "[Version]\n2\n\n[Files]\n"
        let tail = "\n[Checksums SHA1]\n\n[End]\n"
        let old = Array((head + "1\tf\t1\ta\n1\tf\t1\tp\n1\tf\t1\tp\n1\tf\t1\tgone\n" + tail).utf8)
        let new = Array((head + "1\tf\t1\ta\n1\tf\t1\tp\n" + tail).utf8)
        try Self.withOldFile(old) { oldFile in
            let inStep = try ListPair.read(module: "m", directory: "m", new: new, source: "s", oldFile: oldFile)
            for lists in [inStep, try Self.keyedLists(new: new, old: old, oldFile: oldFile)] {
                let deletions = TransferPlanner().plan([lists]).deletions.map { String(decoding: $0, as: UTF8.self) }
                #expect(deletions == ["m/gone"])
            }
        }
    }

    @Test("an old list that is missing, or would not parse, means a full sync and no deletions")
    func unusableOldList() throws {
        let (old, new) = ListPairs.pair(.mixed, seed: 7, count: 300)
        let newBytes = ListPairs.render(new)
        let oldBytes = ListPairs.render(old)
        let cases = [
            (
                "a bad line where the lists differ",
                ListPairs.replacingLine(old.count / 2, with: "1\tf\t1\t../x", in: oldBytes)
            ),
            ("truncated", Array(oldBytes.dropLast(7))),
            (
                "version 4",
                Array(
                    String(decoding: oldBytes, as: UTF8.self).replacingOccurrences(
                        of: "[Version]\n2", with: "[Version]\n4"
                    ).utf8)
            ),
        ]
        for (name, bytes) in cases {
            try Self.withOldFile(bytes) { oldFile in
                let actual = try ListPair.read(
                    module: "m", directory: "m", new: newBytes, source: "s", oldFile: oldFile)
                #expect(actual.inStep == nil && actual.old == nil, "\(name)")
                Self.expectSamePlans(actual, try Self.keyedLists(new: newBytes, old: bytes, oldFile: oldFile), name)
                #expect(TransferPlanner().plan([actual]).deletions.isEmpty)
            }
        }
        let missing = try ListPair.read(
            module: "m", directory: "m", new: newBytes, source: "s", oldFile: "/nonexistent/fullfiletimelist")
        #expect(TransferPlanner(preBitflip: true).plan([missing]).transfers.count == new.count)
    }

    @Test("a bad line in the new list is refused, naming the list and the line, whether the old list has it too or not")
    func badNewList() throws {
        let (old, new) = ListPairs.pair(.editedInPlace, seed: 9, count: 300)
        for bad in ["1\tf\t1\t../../escaped", "1\tf\t1\t/etc/passwd", "<html>", "1\tf\t1\ta//b"] {
            for index in [0, 150, new.count - 1] {
                let newBytes = ListPairs.replacingLine(index, with: bad, in: ListPairs.render(new))
                let expected = #expect(throws: FileListError.self) {
                    try CompactFileList(parsing: newBytes, source: "rsync://host/m/fullfiletimelist-m")
                }
                for shared in [false, true] {
                    // The same bad line in the old list: the walk would find the two identical.
                    let oldBytes =
                        shared
                        ? ListPairs.replacingLine(index, with: bad, in: ListPairs.render(old)) : ListPairs.render(old)
                    try Self.withOldFile(oldBytes) { oldFile in
                        let error = #expect(throws: FileListError.self) {
                            try ListPair.read(
                                module: "m", directory: "m", new: newBytes, source: "rsync://host/m/fullfiletimelist-m",
                                oldFile: oldFile)
                        }
                        #expect(error == expected, "'\(bad)' at \(index), shared: \(shared)")
                        #expect(error?.line == index + 5)
                        #expect(error?.description.contains("rsync://host/m/fullfiletimelist-m: line") == true)
                    }
                }
            }
        }
    }

    @Test("a truncated new list, or one without [End], is refused")
    func truncatedNewList() throws {
        let (old, new) = ListPairs.pair(.identical, seed: 5, count: 200)
        let full = ListPairs.render(new)
        let cases = [Array(full.dropLast(6)), Array(full.prefix(full.count / 2)), Array(full.dropLast(1)) + [0x41]]
        try Self.withOldFile(ListPairs.render(old)) { oldFile in
            for newBytes in cases {
                let expected = #expect(throws: FileListError.self) {
                    try CompactFileList(parsing: newBytes, source: "s")
                }
                let error = #expect(throws: FileListError.self) {
                    try ListPair.read(module: "m", directory: "m", new: newBytes, source: "s", oldFile: oldFile)
                }
                #expect(error == expected)
            }
        }
    }
}
