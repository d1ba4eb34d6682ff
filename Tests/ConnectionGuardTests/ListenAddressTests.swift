import ConnectionGuard
import Testing

@Suite("the address a server listens on, as --http and --listen take it")
struct ListenAddressTests {
    @Test(
        "HOST:PORT, [IPv6]:PORT and :PORT (every address) read as meant, and print back the same way",
        arguments: [
            ("127.0.0.1:8080", "127.0.0.1", 8080, "127.0.0.1:8080"), ("[::1]:3142", "::1", 3142, "[::1]:3142"),
            (":8080", "::", 8080, "[::]:8080"), ("mirror.example:0", "mirror.example", 0, "mirror.example:0"),
        ])
    func reads(_ text: String, host: String, port: Int, printed: String) {
        let address = ListenAddress(text)
        #expect(address == ListenAddress(host: host, port: port))
        #expect(address?.description == printed)
    }

    @Test("anything else is refused", arguments: ["8080", "127.0.0.1", "127.0.0.1:", "host:65536", "host:-1", "host:http"])
    func refused(_ text: String) {
        #expect(ListenAddress(text) == nil)
    }
}
