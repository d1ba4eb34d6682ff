import ListProtocol
import Testing

@Suite("a served list's mode and time, in response headers")
struct ListFileAttributesTests {
    @Test("the header values read back the same, nanoseconds included")
    func roundTrip() {
        for (mode, seconds, nanoseconds) in [(0o644 as UInt32, 1_796_131_374, 641_760_132), (0o664, 0, 0), (0o600, 5, 7)] {
            let attributes = ListFileAttributes(mode: mode, seconds: seconds, nanoseconds: nanoseconds)
            #expect(ListFileAttributes(mode: attributes.modeValue, time: attributes.timeValue) == attributes)
        }
        #expect(ListFileAttributes(mode: 0o664, seconds: 12, nanoseconds: 5).timeValue == "12.000000005")
    }

    @Test("a mode from the network never carries setuid, setgid or sticky")
    func onlyPermissionBits() {
        #expect(ListFileAttributes(mode: "4755", time: "1.000000000")?.mode == 0o755)
        #expect(ListFileAttributes(mode: "7777", time: "1.000000000")?.mode == 0o777)
    }

    @Test(
        "malformed values are refused, not guessed",
        arguments: [
            ("644", nil), (nil, "1.000000000"), ("", "1.000000000"), ("8", "1.000000000"), ("17777", "1.000000000"),
            ("644", "1"), ("644", "1.5"), ("644", "-1.000000000"), ("644", "1.00000000x"), ("644", "1.0000000000"),
            ("644", "x.000000000"),
        ] as [(String?, String?)])
    func refused(mode: String?, time: String?) {
        #expect(ListFileAttributes(mode: mode, time: time) == nil)
    }
}
