import ListProtocol
import Testing

@Suite("ETags as filelistd sends them and its clients read them")
struct EntityTagTests {
    static let digest = String(repeating: "0123456789abcdef", count: 4)

    @Test("a list's ETag and its gzip form's both name the list digest; the header form reads back")
    func listTags() {
        let identity = EntityTag.list(digest: Self.digest)
        let gzip = EntityTag.gzipList(digest: Self.digest)
        #expect(identity.description == "\"\(Self.digest)\"")
        #expect(gzip.description == "\"\(Self.digest)-gzip\"")
        #expect(EntityTag(identity.description) == identity)
        #expect(EntityTag(gzip.description) == gzip)
        #expect(identity.listDigest == Self.digest && !identity.isGzipForm)
        #expect(gzip.listDigest == Self.digest && gzip.isGzipForm)
    }

    @Test(
        "another server's ETag names no list digest, and a malformed one is no ETag",
        arguments: [
            "\"5f3a-61b2c\"", "W/\"\(EntityTagTests.digest)\"", "\"\(String(repeating: "A", count: 64))\"",
            "\"\(String(repeating: "a", count: 63))\"", "\"\(EntityTagTests.digest)-br\"",
        ])
    func notADigest(_ header: String) {
        let tag = EntityTag(header)
        #expect(tag != nil)
        #expect(tag?.listDigest == nil)
    }

    @Test("not an entity tag", arguments: ["", "\"", "abc", "*", "\"a\", \"b\"", "\"a\"b\""])
    func malformed(_ header: String) {
        #expect(EntityTag(header) == nil)
    }

    @Test("/changes?since= takes the ETag as held, in either form, or the bare digest")
    func since() {
        #expect(EntityTag.listDigest(named: "\"\(Self.digest)\"") == Self.digest)
        #expect(EntityTag.listDigest(named: "\"\(Self.digest)-gzip\"") == Self.digest)
        #expect(EntityTag.listDigest(named: Self.digest) == Self.digest)
        #expect(EntityTag.listDigest(named: "nonsense") == nil)
    }

    @Test("If-None-Match compares weakly, takes a list of tags, and * matches anything")
    func ifNoneMatch() {
        let etag = EntityTag.list(digest: Self.digest).description
        #expect(EntityTag.ifNoneMatch(etag, matches: etag))
        #expect(EntityTag.ifNoneMatch("W/\(etag)", matches: etag))
        #expect(EntityTag.ifNoneMatch("\"other\", \(etag)", matches: etag))
        #expect(EntityTag.ifNoneMatch("*", matches: etag))
        #expect(!EntityTag.ifNoneMatch("\"other\"", matches: etag))
        #expect(!EntityTag.ifNoneMatch(EntityTag.gzipList(digest: Self.digest).description, matches: etag))
    }
}

@Suite("percent-encoding of the paths and query values in list URLs")
struct PercentCodingTests {
    @Test(
        "an encoded path component or query value decodes to the same bytes",
        arguments: ["plain", "with space", "libstdc++-14.rpm", "a/b", "100%", "ü é", "semi;colon", "q=1&r=2", "#hash"])
    func roundTrip(_ text: String) {
        let component = PercentCoding.encodePathComponent(text)
        #expect(PercentCoding.decode(component) == Array(text.utf8))
        #expect(!component.contains("/") && !component.contains(" ") && !component.contains("#"))
        let value = PercentCoding.encodeQueryValue(text)
        #expect(PercentCoding.decode(value, plusIsSpace: true) == Array(text.utf8))
        #expect(!value.contains("&") && !value.contains("=") && !value.contains("+"))
    }

    @Test("the characters mirrors use in names stay as they are in a path")
    func namesStayReadable() {
        #expect(PercentCoding.encodePathComponent("gcc-c++-14.2.1-1.fc41.x86_64.rpm") == "gcc-c++-14.2.1-1.fc41.x86_64.rpm")
        #expect(PercentCoding.encodePathComponent("a b") == "a%20b")
        #expect(PercentCoding.encodeQueryValue("fedora/linux/fullfiletimelist") == "fedora/linux/fullfiletimelist")
    }

    @Test("a % not followed by two hex digits is no encoding")
    func malformed() {
        #expect(PercentCoding.decode("%") == nil)
        #expect(PercentCoding.decode("%4") == nil)
        #expect(PercentCoding.decode("%zz") == nil)
        #expect(PercentCoding.decode("%2f") == [UInt8(ascii: "/")])
    }
}
