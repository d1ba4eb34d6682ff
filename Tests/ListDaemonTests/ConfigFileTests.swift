import CommandLineSupport
import FileList
import ListDaemon
import Testing
import TreeScan

@Suite("filelistd's config file")
struct ConfigFileTests {
    /// Found by Fuzz/fuzz-daemon-config: a number of seconds too large for a Duration in
    /// milliseconds (`1e300`, `inf`) trapped instead of naming the line.
    @Test(arguments: [
        "settle = 1e300", "max-delay = inf", "audit-interval = 99999999999", "settle = nan", "settle = -1",
    ])
    func secondsOutOfRangeNameTheLine(_ setting: String) {
        #expect {
            try ConfigFile.parse(
                "top = /srv/pub\nmodules = fedora\n\(setting)\n", path: "pub.conf", runtimeDirectory: "/run")
        } throws: { error in
            "\(error)".hasPrefix("pub.conf: line 3: ") && "\(error)".contains("is not a number of seconds")
        }
    }

    @Test func ordinarySecondsAreRead() throws {
        let configuration = try ConfigFile.parse(
            "top = /srv/pub\nmodules = fedora\nsettle = 0.5\naudit-interval = 86400\n", path: "pub.conf",
            runtimeDirectory: "/run")
        #expect(configuration.settle == .milliseconds(500))
        #expect(configuration.auditInterval == .seconds(86400))
    }
}

@Suite("the scan choices, as flags and as config file keys")
struct ScanChoiceTests {
    /// An operator moving from `filelistd -c -C ... -S ...` to a config file (or from
    /// create-filelist's flags to filelistd's) must get the same list: the same checksummed
    /// names, the same skipped names, the same checksum sections.
    @Test(
        "-c, -C, -S and --checksum-algorithms choose what checksum, checksum-file, skip-file and checksum-algorithms do"
    )
    func flagsAndKeysAgree() throws {
        let flags = try ScanFlags.parse([
            "-c", "-C", "CHECKSUM", "-C", "SHA256SUMS", "-S", "fullfilelist", "-S", "imagelist-fedora",
            "--checksum-algorithms", "sha1,sha256",
        ]).choices.applied()
        let file = try ConfigFile.parse(
            """
            top = /srv/pub
            modules = fedora
            checksum = yes
            checksum-file = CHECKSUM
            checksum-file = SHA256SUMS
            skip-file = fullfilelist
            skip-file = imagelist-fedora
            checksum-algorithms = sha1,sha256
            """, path: "pub.conf", runtimeDirectory: "/run"
        ).options
        let names = { (set: Set<[UInt8]>) in Set(set.map { String(decoding: $0, as: UTF8.self) }) }
        #expect(names(flags.checksumNames) == ["repomd.xml", "CHECKSUM", "SHA256SUMS"])
        #expect(names(flags.topLevelSkips).isSuperset(of: ["fullfilelist", "imagelist-fedora"]))
        #expect(flags.algorithms == [.sha1, .sha256])
        #expect(names(file.checksumNames) == names(flags.checksumNames))
        #expect(names(file.topLevelSkips) == names(flags.topLevelSkips))
        #expect(file.algorithms == flags.algorithms)
    }

    @Test("without them, only sha1 sections and no checksummed or skipped names")
    func defaults() throws {
        let flags = try ScanFlags.parse([]).choices.applied()
        #expect(flags.checksumNames.isEmpty && flags.algorithms == [.sha1])
        #expect(flags.topLevelSkips == ScanOptions().topLevelSkips)
    }

    @Test("an unknown checksum algorithm is refused, naming the flag")
    func unknownAlgorithm() {
        #expect {
            try ScanFlags.parse(["--checksum-algorithms", "sha1,crc"])
        } throws: { error in
            ScanFlags.message(for: error).contains("--checksum-algorithms")
        }
    }
}
