import FileList
import Testing
import TreeFixtures

@Suite("Writing and reading lists", .ownThread)
struct FileListRoundTripTests {
    /// NFC and NFD spellings of "café": Swift's String calls them equal, the file system does not.
    static let nfc: [UInt8] = Array("caf\u{E9}".utf8)
    static let nfd: [UInt8] = Array("cafe\u{301}".utf8)

    static let entries: [FileListEntry] = [
        FileListEntry(time: 1_700_000_000, type: EntryType(.directory), size: 4096, path: "pub"),
        FileListEntry(time: 1_700_000_001, type: EntryType(.file), size: 12, path: "pub/a.rpm"),
        FileListEntry(time: 1_700_000_002, type: EntryType(.symlink), size: 5, path: "pub/latest"),
        FileListEntry(
            time: 1_700_000_003, type: EntryType(.directory, .notWorldReadable), size: 4096, path: "pub/embargo"),
        FileListEntry(time: 1_700_000_004, type: EntryType(.file, .restrictedSubtree), size: 0, path: "pub/embargo/x"),
        FileListEntry(
            time: 1_700_000_005, type: EntryType(.symlink, .restrictedSubtree), size: 1, path: "pub/embargo/y"),
        FileListEntry(time: 1_700_000_006, type: EntryType(.file, .notWorldReadable), size: 7, path: "pub/secret"),
        FileListEntry(time: 1, type: EntryType(.file), size: 1, path: Array("pub/".utf8) + nfc),
        FileListEntry(time: 2, type: EntryType(.file), size: 2, path: Array("pub/".utf8) + nfd),
        FileListEntry(time: 3, type: EntryType(.file), size: 3, path: Array("pub/raw-".utf8) + [0xFF, 0xFE]),
    ]

    @Test("the layout is byte-exact: header, TAB-separated lines, empty line, checksums, [End]")
    func exactBytes() {
        let bytes = FileListFormat.render(
            entries: [
                FileListEntry(time: 1_700_000_000, type: EntryType(.directory), size: 4096, path: "a"),
                FileListEntry(
                    time: 1_700_000_001, type: EntryType(.file, .restrictedSubtree), size: 3, path: "a/repomd.xml"),
            ],
            checksums: [
                FileChecksum(path: Array("a/repomd.xml".utf8), hex: [.sha1: String(repeating: "ab", count: 20)])
            ])
        let expected = """
            [Version]
            2

            [Files]
            1700000000\td\t4096\ta
            1700000001\tf*\t3\ta/repomd.xml

            [Checksums SHA1]
            \(String(repeating: "ab", count: 20))\ta/repomd.xml

            [End]

            """
        #expect(String(decoding: bytes, as: UTF8.self) == expected)
    }

    @Test("an empty tree still has a [Checksums SHA1] section and [End]")
    func emptyList() throws {
        let bytes = FileListFormat.render(entries: [])
        #expect(String(decoding: bytes, as: UTF8.self) == "[Version]\n2\n\n[Files]\n\n[Checksums SHA1]\n\n[End]\n")
        let list = try FileListReader.parse(bytes)
        #expect(list.entries.isEmpty)
        #expect(list.checksums[.sha1] == [])
    }

    @Test("every entry, suffix and byte-exact name survives a round trip")
    func roundTrip() throws {
        let bytes = FileListFormat.render(entries: Self.entries, version: 3)
        let list = try FileListReader.parse(bytes)
        #expect(list.version == 3)
        #expect(list.entries == Self.entries)
        // The two spellings of café stay two entries.
        #expect(Set(list.entries.map(\.path)).count == Self.entries.count)
    }

    @Test("four checksum sections, in the reference's order, each listing the same files sorted by path")
    func allChecksumSections() throws {
        let checksums = [
            FileChecksum(
                path: Array("b/repomd.xml".utf8),
                hex: [
                    .sha1: String(repeating: "1", count: 40), .md5: String(repeating: "2", count: 32),
                    .sha256: String(repeating: "3", count: 64), .sha512: String(repeating: "4", count: 128),
                ]),
            FileChecksum(
                path: Array("a/repomd.xml".utf8),
                hex: [
                    .sha1: String(repeating: "5", count: 40), .md5: String(repeating: "6", count: 32),
                    .sha256: String(repeating: "7", count: 64), .sha512: String(repeating: "8", count: 128),
                ]),
        ]
        let bytes = FileListFormat.render(
            entries: [], checksums: checksums, algorithms: [.sha512, .md5, .sha1, .sha256])
        let text = String(decoding: bytes, as: UTF8.self)
        let headers = text.split(separator: "\n").filter { $0.hasPrefix("[Checksums") }
        #expect(headers == ["[Checksums SHA1]", "[Checksums MD5]", "[Checksums SHA256]", "[Checksums SHA512]"])
        let list = try FileListReader.parse(bytes)
        for algorithm in ChecksumAlgorithm.allCases {
            #expect(list.checksums[algorithm]?.map(\.path) == [Array("a/repomd.xml".utf8), Array("b/repomd.xml".utf8)])
        }
        #expect(list.checksums[.md5]?.first?.hex == String(repeating: "6", count: 32))
    }

    @Test(
        "checksum algorithm lists parse, in section order, and unknown names are refused",
        arguments: [
            ("sha1", [ChecksumAlgorithm.sha1]),
            ("sha512,md5, sha1", [.sha1, .md5, .sha512]),
            ("SHA256,sha256", [.sha256]),
        ])
    func algorithmLists(text: String, expected: [ChecksumAlgorithm]) throws {
        #expect(try ChecksumAlgorithm.parseList(text).get() == expected)
    }

    @Test func unknownAlgorithm() {
        guard case .failure(let error) = ChecksumAlgorithm.parseList("sha1,crc32") else {
            Issue.record("crc32 was accepted")
            return
        }
        #expect(error.description.contains("crc32"))
    }
}
