import FileList
import Testing
import TreeFixtures

@Suite("A strict reader refuses what a careful client must not act on", .ownThread)
struct MalformedListTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var text: String
        var line: Int
        var problem: FileListError.Problem
        var testDescription: String { name }
    }

    static let good = "[Version]\n2\n\n[Files]\n1\td\t4096\ta\n2\tf\t3\ta/b\n\n[Checksums SHA1]\n\n[End]\n"
    static let sha = String(repeating: "a", count: 40)

    static let cases: [Case] = [
        Case(
            name: "missing [End]", text: "[Version]\n2\n\n[Files]\n1\td\t4096\ta\n\n[Checksums SHA1]\n", line: 7,
            problem: .truncated),
        Case(
            name: "cut in the [Files] section", text: "[Version]\n2\n\n[Files]\n1\td\t4096\ta\n2\tf\t3\ta/b", line: 6,
            problem: .truncated),
        Case(name: "empty input", text: "", line: 0, problem: .truncated),
        Case(name: "no [Version]", text: "[Files]\n\n[End]\n", line: 1, problem: .missingVersionHeader),
        Case(
            name: "version not a number", text: "[Version]\ntwo\n\n[Files]\n\n[End]\n", line: 2,
            problem: .badVersion("two")),
        Case(
            name: "version above 3", text: "[Version]\n4\n\n[Files]\n\n[End]\n", line: 2,
            problem: .unsupportedVersion(4)),
        Case(
            name: "no empty line after the version", text: "[Version]\n2\n[Files]\n\n[End]\n", line: 3,
            problem: .expectedEmptyLine),
        Case(name: "no [Files]", text: "[Version]\n2\n\n[Stuff]\n\n[End]\n", line: 4, problem: .missingFilesHeader),
        Case(
            name: "three fields", text: "[Version]\n2\n\n[Files]\n1\td\t4096\ta\n2\tf\t3\n\n[End]\n", line: 6,
            problem: .wrongFieldCount(3)),
        Case(
            name: "garbage line", text: "[Version]\n2\n\n[Files]\nhello world\n\n[End]\n", line: 5,
            problem: .wrongFieldCount(1)),
        Case(
            name: "non-numeric time", text: "[Version]\n2\n\n[Files]\n1x\tf\t3\ta\n\n[End]\n", line: 5,
            problem: .badTime("1x")),
        Case(
            name: "negative time", text: "[Version]\n2\n\n[Files]\n-1\tf\t3\ta\n\n[End]\n", line: 5,
            problem: .badTime("-1")),
        Case(
            name: "non-numeric size", text: "[Version]\n2\n\n[Files]\n1\tf\tbig\ta\n\n[End]\n", line: 5,
            problem: .badSize("big")),
        Case(
            name: "unknown type", text: "[Version]\n2\n\n[Files]\n1\tp\t3\ta\n\n[End]\n", line: 5,
            problem: .badType("p")),
        Case(
            name: "unknown suffix", text: "[Version]\n2\n\n[Files]\n1\tf+\t3\ta\n\n[End]\n", line: 5,
            problem: .badType("f+")),
        Case(
            name: "two suffixes", text: "[Version]\n2\n\n[Files]\n1\tf-*\t3\ta\n\n[End]\n", line: 5,
            problem: .badType("f-*")),
        Case(
            name: "parent component", text: "[Version]\n2\n\n[Files]\n1\tf\t3\ta/../../etc/passwd\n\n[End]\n", line: 5,
            problem: .badPath(.parentComponent, "a/../../etc/passwd")),
        Case(
            name: "absolute path", text: "[Version]\n2\n\n[Files]\n1\tf\t3\t/etc/passwd\n\n[End]\n", line: 5,
            problem: .badPath(.absolute, "/etc/passwd")),
        Case(
            name: "leading ./", text: "[Version]\n2\n\n[Files]\n1\tf\t3\t./a\n\n[End]\n", line: 5,
            problem: .badPath(.dotComponent, "./a")),
        Case(
            name: "empty path", text: "[Version]\n2\n\n[Files]\n1\tf\t3\t\n\n[End]\n", line: 5,
            problem: .badPath(.empty, "")),
        Case(
            name: "unknown section", text: "[Version]\n2\n\n[Files]\n1\tf\t3\ta\n\n[Extras]\n\n[End]\n", line: 7,
            problem: .unknownSection("[Extras]")),
        Case(
            name: "short checksum", text: "[Version]\n2\n\n[Files]\n\n[Checksums SHA1]\nabc\ta\n\n[End]\n", line: 7,
            problem: .badChecksumLine("abc\ta")),
        Case(
            name: "checksum path escaping",
            text: "[Version]\n2\n\n[Files]\n\n[Checksums SHA1]\n\(sha)\t../x\n\n[End]\n", line: 7,
            problem: .badPath(.parentComponent, "../x")),
        Case(
            name: "content after [End]", text: "[Version]\n2\n\n[Files]\n\n[End]\nmore\n", line: 7,
            problem: .contentAfterEnd),
    ]

    @Test("a well-formed list parses")
    func wellFormed() throws {
        let list = try FileListReader.parse(Array(Self.good.utf8))
        #expect(list.entries.map(\.displayPath) == ["a", "a/b"])
    }

    @Test("each malformed list is refused with the line number and the problem", arguments: cases)
    func refused(_ testCase: Case) {
        #expect(throws: FileListError(line: testCase.line, problem: testCase.problem)) {
            try FileListReader.parse(Array(testCase.text.utf8))
        }
    }

    @Test("the error message names the source and the line")
    func message() {
        do {
            _ = try FileListReader.parse(
                Array("[Version]\n2\n\n[Files]\n1\tf\t3\n".utf8), source: "fullfiletimelist-fedora")
            Issue.record("a three-field line was accepted")
        } catch {
            #expect(
                error.description
                    == "fullfiletimelist-fedora: line 5: expected 4 TAB-separated fields (time, type, size, path), found 3"
            )
        }
    }

    @Test(
        "relative paths that stay inside the tree",
        arguments: [
            ("a", nil), ("a/b/c.rpm", nil), ("..a/b..", nil), (".hidden/x", nil), ("...", nil),
            ("", RelativePath.Problem.empty), ("/a", .absolute), ("a/../b", .parentComponent), ("..", .parentComponent),
            ("a/./b", .dotComponent), ("a//b", .emptyComponent), ("a/", .emptyComponent), ("a\u{0}b", .nulByte),
            (String(repeating: "x/", count: 2049), .tooLong),
        ] as [(String, RelativePath.Problem?)])
    func relativePaths(path: String, problem: RelativePath.Problem?) {
        #expect(RelativePath.problem(in: Array(path.utf8)) == problem)
    }
}
