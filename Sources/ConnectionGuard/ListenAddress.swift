/// The address a server listens on, as an operator writes it: `127.0.0.1:8080`,
/// `[::1]:8080`, or `:8080` for every address. One reading and one spelling for
/// filelistd's `--http` and mirror-cache's `--listen`, in their errors and logs too.
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    /// A name or an address, without brackets; `::` listens on every address.
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `HOST:PORT` with a port from 0 (any free one) to 65535; nil for anything else, which
    /// each command words in its own error.
    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        self.init(host: host.isEmpty ? "::" : host, port: port)
    }

    /// An IPv6 address in brackets, as in a URL.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
