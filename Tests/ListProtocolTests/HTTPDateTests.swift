import ListProtocol
import Testing

@Suite("HTTP dates, as filelistd writes them and quick-mirror reads them")
struct HTTPDateTests {
    @Test(
        "what is formatted reads back to the same second, across leap days and month ends",
        arguments: [0, 784_111_777, 951_782_400, 951_868_799, 1_577_934_245, 1_709_251_200, 1_796_132_700, 4_102_444_799])
    func roundTrip(seconds: Int) {
        #expect(HTTPDate.seconds(from: HTTPDate.format(secondsSinceEpoch: seconds)) == seconds)
    }

    @Test("RFC 9110's own example")
    func example() {
        #expect(HTTPDate.seconds(from: "Sun, 06 Nov 1994 08:49:37 GMT") == 784_111_777)
        #expect(HTTPDate.format(secondsSinceEpoch: 784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
    }

    @Test(
        "anything else is not a date",
        arguments: [
            "", "Sun, 06 Nov 1994 08:49:37", "Sun, 06 Nov 1994 08:49:37 UTC", "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun, 32 Nov 1994 08:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
        ])
    func refused(text: String) {
        #expect(HTTPDate.seconds(from: text) == nil)
    }
}
