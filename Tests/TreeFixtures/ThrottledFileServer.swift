import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// An upstream for cache tests: serves a directory over HTTP/1.1 on 127.0.0.1 (a port the
/// kernel picks), with Content-Length, Range, ETag and Last-Modified, and faults on
/// demand: a rate limit, a connection cut after N bytes of a path, a stall, being down.
/// Counts the GETs per path. One thread per connection; every answer closes the
/// connection. Stops when `stop()` is called or the value goes away.
public final class ThrottledFileServer: Sendable {
    public let root: String
    public let port: Int
    private let listener: Mutex<Int32>

    private struct State {
        var gets: [String: Int] = [:]
        var bytesPerSecond: Int?
        /// Cut GETs of the path when they reach this offset of the file, this many times.
        var cutAt: [String: (offset: Int, times: Int)] = [:]
        /// Stop sending the next GET of the path after this many body bytes (once).
        var stallAfter: [String: Int] = [:]
        /// GETs of the path wait after this many body bytes until `release` (every GET).
        var holdAfter: [String: Int] = [:]
        var firstBodyByte: [String: ContinuousClock.Instant] = [:]
        var lastBodyByte: [String: ContinuousClock.Instant] = [:]
        var stopped = false
    }
    private let state = Mutex(State())

    public var url: String { "http://127.0.0.1:\(port)" }

    public init(root: String) throws {
        self.root = root
        let (fd, port) = try Self.listen(port: 0)
        self.port = port
        listener = Mutex(fd)
        startAccepting(fd)
    }

    deinit { stop() }

    public func stop() {
        state.withLock { $0.stopped = true }
        setDown(true)
    }

    /// Down: nothing listens, connections are refused. Up again on the same port.
    public func setDown(_ down: Bool) {
        if down {
            let fd = listener.withLock { fd in
                defer { fd = -1 }; return fd
            }
            if fd >= 0 {
                Glibc.shutdown(fd, Int32(SHUT_RDWR))
                close(fd)
            }
        } else if listener.withLock({ $0 }) < 0, let (fd, _) = try? Self.listen(port: port) {
            listener.withLock { $0 = fd }
            startAccepting(fd)
        }
    }

    public func throttle(bytesPerSecond: Int?) { state.withLock { $0.bytesPerSecond = bytesPerSecond } }
    /// The next `times` GETs of `path` close the connection when the body reaches `offset`
    /// of the file (a resume from there is cut at once).
    public func cut(_ path: String, atOffset offset: Int, times: Int = 1) {
        state.withLock { $0.cutAt[path] = (offset, times) }
    }
    public func stall(_ path: String, afterBytes count: Int) { state.withLock { $0.stallAfter[path] = count } }
    /// GETs of `path` send `count` body bytes, then wait for `release(path)`: a test can
    /// see what clients received while the upstream is still sending, whatever the
    /// machine's speed.
    public func hold(_ path: String, afterBytes count: Int) { state.withLock { $0.holdAfter[path] = count } }
    public func release(_ path: String) { state.withLock { $0.holdAfter[path] = nil } }
    public func gets(_ path: String) -> Int { state.withLock { $0.gets[path] ?? 0 } }
    public var totalGets: Int { state.withLock { $0.gets.values.reduce(0, +) } }
    public func firstBodyByte(_ path: String) -> ContinuousClock.Instant? { state.withLock { $0.firstBodyByte[path] } }
    public func lastBodyByte(_ path: String) -> ContinuousClock.Instant? { state.withLock { $0.lastBodyByte[path] } }
    public func resetCounts() {
        state.withLock {
            $0.gets = [:]
            $0.firstBodyByte = [:]
            $0.lastBodyByte = [:]
        }
    }

    private static func listen(port: Int) throws -> (Int32, Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 && Glibc.listen(fd, 256) == 0
            }
        }
        guard fd >= 0, ok else {
            let reason = String(cString: strerror(errno))
            if fd >= 0 { close(fd) }
            throw LoopbackSocket.Failure(description: "test file server: cannot listen: \(reason)")
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    private func startAccepting(_ fd: Int32) {
        let thread = Thread { [self] in
            while true {
                let connection = accept(fd, nil, nil)
                if connection < 0 {
                    if errno == EINTR { continue }
                    return
                }
                let worker = Thread { [self] in
                    serve(connection)
                    close(connection)
                }
                worker.start()
            }
        }
        thread.start()
    }

    private func serve(_ fd: Int32) {
        var request: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !request.ends(with: [13, 10, 13, 10]) {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { return }
            request += buffer[0..<n]
            if request.count > 65536 { return }
        }
        let lines = String(decoding: request, as: UTF8.self).components(separatedBy: "\r\n")
        let parts = lines[0].split(separator: " ")
        guard parts.count >= 2 else { return }
        let method = String(parts[0])
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces)
        }
        let path = String(String(parts[1]).split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0])
        let decoded = path.removingPercentEncoding ?? path
        if method == "GET" { state.withLock { $0.gets[decoded, default: 0] += 1 } }
        let file = root + decoded
        var info = stat()
        guard !decoded.contains(".."), stat(file, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG,
            let handle = FileHandle(forReadingAtPath: file)
        else {
            return respond(fd, "404 Not Found", ["Content-Length": "10"], body: Array("not found\n".utf8))
        }
        defer { try? handle.close() }
        let size = Int(info.st_size)
        let mtime = Int(info.st_mtim.tv_sec)
        let etag = "\"\(String(size, radix: 16))-\(String(mtime, radix: 16))\""
        let lastModified = Self.httpDate(mtime)
        if headers["if-none-match"] == etag
            || (headers["if-none-match"] == nil && headers["if-modified-since"] == lastModified)
        {
            return respond(fd, "304 Not Modified", ["ETag": etag, "Last-Modified": lastModified], body: [])
        }
        var start = 0
        var end = size
        var status = "200 OK"
        var fields = ["ETag": etag, "Last-Modified": lastModified, "Accept-Ranges": "bytes"]
        if let range = headers["range"], range.hasPrefix("bytes="), let dash = range.firstIndex(of: "-") {
            let first = Int(range[range.index(range.startIndex, offsetBy: 6)..<dash]) ?? 0
            let last = Int(range[range.index(after: dash)...]).map { $0 + 1 } ?? size
            guard first < size else {
                return respond(fd, "416 Range Not Satisfiable", ["Content-Range": "bytes */\(size)"], body: [])
            }
            start = first
            end = min(last, size)
            status = "206 Partial Content"
            fields["Content-Range"] = "bytes \(start)-\(end - 1)/\(size)"
        }
        fields["Content-Length"] = "\(end - start)"
        respond(fd, status, fields, body: [])
        guard method == "GET" else { return }
        let (rate, cutAt, stallAfter) = state.withLock { state -> (Int?, Int?, Int?) in
            var cut: Int?
            if let planned = state.cutAt[decoded] {
                cut = planned.offset
                state.cutAt[decoded] = planned.times > 1 ? (planned.offset, planned.times - 1) : nil
            }
            return (state.bytesPerSecond, cut, state.stallAfter.removeValue(forKey: decoded))
        }
        let dieAfter = cutAt.map { max(0, $0 - start) }
        try? handle.seek(toOffset: UInt64(start))
        let began = ContinuousClock.now
        var sent = 0
        let chunk = rate.map { max(4096, min(65536, $0 / 50)) } ?? 65536
        while start + sent < end {
            var count = min(chunk, end - start - sent)
            if let dieAfter { count = min(count, dieAfter - sent) }
            if let stallAfter { count = min(count, stallAfter - sent) }
            if count <= 0 {
                if stallAfter != nil {
                    // Silent but open, until the client gives up or the server stops.
                    while !state.withLock({ $0.stopped }) {
                        var probe = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                        if poll(&probe, 1, 100) > 0 { break }
                    }
                }
                Glibc.shutdown(fd, Int32(SHUT_RDWR))
                return
            }
            guard let data = try? handle.read(upToCount: count), !data.isEmpty else { return }
            if sent == 0 { state.withLock { $0.firstBodyByte[decoded] = $0.firstBodyByte[decoded] ?? .now } }
            guard writeAll(fd, Array(data)) else { return }
            sent += data.count
            while let held = state.withLock({ $0.stopped ? nil : $0.holdAfter[decoded] }), start + sent >= held {
                Thread.sleep(forTimeInterval: 0.01)
            }
            if start + sent == end { state.withLock { $0.lastBodyByte[decoded] = .now } }
            if let rate {
                let due = began + .nanoseconds(Int64(Double(sent) / Double(rate) * 1e9))
                let now = ContinuousClock.now
                if due > now {
                    Thread.sleep(
                        forTimeInterval: Double((due - now).components.attoseconds) / 1e18
                            + Double((due - now).components.seconds))
                }
            }
        }
    }

    private func respond(_ fd: Int32, _ status: String, _ fields: [String: String], body: [UInt8]) {
        var head = "HTTP/1.1 \(status)\r\nConnection: close\r\n"
        for (name, value) in fields.sorted(by: { $0.key < $1.key }) { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        _ = writeAll(fd, Array(head.utf8) + body)
    }

    private func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var done = 0
        while done < bytes.count {
            let n = bytes[done...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0, errno == EINTR { continue }
            if n <= 0 { return false }
            done += n
        }
        return true
    }

    static func httpDate(_ seconds: Int) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let count = strftime(&buffer, buffer.count, "%a, %d %b %Y %H:%M:%S GMT", &parts)
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension Array where Element == UInt8 {
    fileprivate func ends(with suffix: [UInt8]) -> Bool {
        count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix
    }
}
