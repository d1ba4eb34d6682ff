import NIOHTTP1

/// One log line per request, when its response is complete: who, what, the answer, how
/// many body bytes, and how it was served (hit, miss, coalesced, pass, stale...).
struct RequestLog: Sendable {
    let writer: RequestLogWriter
    let client: String
    let method: HTTPMethod
    let uri: String
    let started: ContinuousClock.Instant

    func done(status: UInt, bytes: Int64, how: String) {
        guard writer.isOn else { return }
        let elapsed = ContinuousClock.now - started
        let milliseconds = elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000
        writer.record(
            client: client, method: method.rawValue, uri: uri, status: status, bytes: bytes,
            milliseconds: milliseconds, served: how)
    }
}
