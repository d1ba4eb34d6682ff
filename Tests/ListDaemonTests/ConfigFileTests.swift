import ListDaemon
import Testing

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
