@testable import MirrorCache
import Testing
import TreeFixtures

@Suite("Request parsing", .ownThread)
struct RequestParsingTests {
    @Test func reverseTargetsMapBelowReverse() throws {
        let (target, query) = try RequestTarget.parse("/fedora//linux/a%20b.rpm", upstreams: ["http://up/pub"])
        #expect(target.key == "reverse/fedora/linux/a b.rpm")
        #expect(target.listedPath == "fedora/linux/a b.rpm")
        #expect(target.upstreamPath == "/fedora/linux/a%20b.rpm")
        #expect(query == nil)
    }

    @Test func absoluteTargetsMapPerHost() throws {
        let (target, _) = try RequestTarget.parse("http://Mirror.Example:8080/a/b", upstreams: [])
        #expect(target.key == "proxy/mirror.example:8080/a/b")
        #expect(target.origins == ["http://mirror.example:8080"])
        #expect(target.listedPath == nil)
    }

    /// Plain paths take a shorter way than encoded ones; both must name the same file.
    @Test(arguments: [
        ("/pub/x.rpm", "reverse/pub/x.rpm"), ("/pub/x.rpm?v=1", "reverse/pub/x.rpm"), ("/a/b/", "reverse/a/b"),
        ("/a/.../b", "reverse/a/.../b"), ("/a/.b/..c", "reverse/a/.b/..c"), ("/%70ub/x", "reverse/pub/x"),
        ("/caf%C3%A9/x", "reverse/café/x"), ("/café/x", "reverse/café/x"), ("/a/b#frag", "reverse/a/b"),
    ])
    func plainAndEncodedPathsMapAlike(_ text: String, _ key: String) throws {
        #expect(try RequestTarget.parse(text, upstreams: ["http://up"]).0.key == key)
    }

    /// Found by Fuzz/fuzz-request-target: a `/` followed by a combining mark (U+06DA here)
    /// is one Character with it, so splitting the path as Characters sent the slash
    /// upstream as `%2F`, and the stored file's directory was taken from an earlier slash.
    @Test func aSlashBeforeACombiningMarkStaysASlash() throws {
        let (target, _) = try RequestTarget.parse("/fedora/%DB%9Ax.rpm", upstreams: ["http://up"])
        #expect(target.key == "reverse/fedora/\u{06DA}x.rpm")
        #expect(target.upstreamPath == "/fedora/%DB%9Ax.rpm")
        #expect(CacheStore.parent("/cache/reverse/fedora/\u{06DA}x.rpm") == "/cache/reverse/fedora")
    }

    @Test(arguments: ["/../x", "/%2e%2e/x", "/a/%2F..%2Fx", "/a/./b", "/a%00", "/a/..", "/.", "/", "//", "/a/%zz"])
    func escapesAreRefused(_ text: String) {
        #expect(throws: RequestTarget.Rejection.self) { try RequestTarget.parse(text, upstreams: ["http://up"]) }
    }

    @Test func allowRanges() throws {
        let lan = try AddressRange("192.168.1.0/24")
        #expect(lan.contains([192, 168, 1, 77]))
        #expect(!lan.contains([192, 168, 2, 1]))
        #expect(AddressRange.loopback.contains { $0.contains([127, 0, 0, 2]) })
        #expect(AddressRange.loopback.contains { $0.contains(Array(repeating: 0, count: 15) + [1]) })
        #expect(throws: AddressRange.Invalid.self) { try AddressRange("10.0.0.0/33") }
    }

    @Test func ranges() {
        #expect(ByteRange.parse("bytes=0-99")?.bounds(size: 50) == 0..<50)
        #expect(ByteRange.parse("bytes=10-")?.bounds(size: 50) == 10..<50)
        #expect(ByteRange.parse("bytes=-5")?.bounds(size: 50) == 45..<50)
        #expect(ByteRange.parse("bytes=60-")?.bounds(size: 50) == nil)
        #expect(ByteRange.parse("bytes=0-1,5-6") == nil)
    }

    @Test(arguments: [
        ("fedora/releases/40/Everything/x86_64/os/repodata/repomd.xml", true),
        ("fedora/x/repodata/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef-primary.xml.gz", false),
        ("fedora/x/repodata/primary.xml.gz", true),
        ("debian/dists/bookworm/InRelease", true),
        ("debian/dists/bookworm/main/binary-amd64/Packages.xz", true),
        ("debian/dists/bookworm/main/binary-amd64/by-hash/SHA256/abc", false),
        ("fedora/Packages/b/bash-5.2.rpm", false),
        ("fedora/x/repodata/primary.sqlite.bz2", true),
        ("centos/9/isos/CentOS-Stream-9-x86_64-CHECKSUM", true),
        ("gentoo/snapshots/gentoo-latest.tar.xz.md5sum", true),
        ("gentoo/metadata/Manifest.gz", true),
        ("fedora/fullfiletimelist-fedora", true),
        ("fedora/Packages/s/sqlite-3.45.rpm", false),
        ("fedora/Packages/s/sqlite.rpm", false),
        ("fedora/Packages/c/CHECKSUM-tools.rpm", false),
        ("fedora/repodata/", false),
    ])
    func volatileNames(_ path: String, _ volatile: Bool) {
        #expect(VolatileNames.isVolatile(path) == volatile)
    }

    /// What a pass-through copies from an upstream's answer must not split the response.
    @Test(arguments: [
        ("text/plain; charset=utf-8", true), ("\"5f2a-1c\"", true), ("a\tb", true), ("a\r\nSet-Cookie: x", false),
        ("a\nb", false), ("a\u{0}b", false), ("a\u{7F}", false), ("café", true),
    ])
    func upstreamFieldValuesAreCheckedBeforeTheyAreCopied(_ value: String, _ copyable: Bool) {
        #expect(ResponseFields.isCopyable(value) == copyable)
    }

    @Test func sizes() throws {
        #expect(try ByteCount.parse("20G", option: "--max-size") == 20 << 30)
        #expect(try ByteCount.parse("512", option: "--max-size") == 512)
        #expect(throws: ByteCount.Invalid.self) { try ByteCount.parse("lots", option: "--max-size") }
    }
}
