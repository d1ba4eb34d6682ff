import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A client connection as an attacker or a broken client holds it: raw bytes on a TCP
/// socket to 127.0.0.1, sent when the test says, read with a deadline. Closed when the
/// value goes.
public final class RawConnection: Sendable {
    public let descriptor: Int32

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    /// `receiveBuffer`: a small one (bytes) makes a client that reads slowly stall the
    /// server's send sooner.
    public init(port: Int, receiveBuffer: Int? = nil) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        if var size = receiveBuffer.map(Int32.init) {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard connected else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw Failure(description: "connect to 127.0.0.1:\(port): \(reason)")
        }
        descriptor = fd
    }

    deinit { close(descriptor) }

    public func send(_ text: String) throws { try send(Array(text.utf8)) }

    public func send(_ bytes: [UInt8]) throws {
        var done = 0
        while done < bytes.count {
            let n = bytes[done...].withUnsafeBytes {
                Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure(description: "send: \(String(cString: strerror(errno)))")
            }
            done += n
        }
    }

    /// What arrives until the server closes the connection or `timeout` passes, and
    /// whether it closed (an orderly end or a reset).
    public func readUntilClosed(timeout: Duration) -> (bytes: [UInt8], closed: Bool) {
        let deadline = ContinuousClock.now + timeout
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return (bytes, false) }
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(min(left / .milliseconds(1), 60_000).rounded(.up))
            let ready = poll(&poller, 1, max(1, milliseconds))
            if ready < 0 {
                if errno == EINTR { continue }
                return (bytes, true)
            }
            if ready == 0 { continue }
            let n = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                bytes += buffer[..<n]
            } else if n == 0 || errno != EINTR {
                return (bytes, true)
            }
        }
    }

    /// Reads one response's head and body (by Content-Length), within `timeout`: its
    /// status, lowercased fields and body; nil when the connection closed first.
    public func readResponse(timeout: Duration) -> (status: Int, headers: [String: String], body: [UInt8])? {
        let deadline = ContinuousClock.now + timeout
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while ContinuousClock.now < deadline {
            if let parsed = Self.parse(bytes) { return parsed }
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 50) >= 0 || errno == EINTR else { return nil }
            guard poller.revents != 0 else { continue }
            let n = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return Self.parse(bytes) }
            bytes += buffer[..<n]
        }
        return nil
    }

    static func parse(_ bytes: [UInt8]) -> (status: Int, headers: [String: String], body: [UInt8])? {
        let end = Array("\r\n\r\n".utf8)
        guard let headEnd = (0..<max(0, bytes.count - 3)).first(where: { Array(bytes[$0..<$0 + 4]) == end }) else {
            return nil
        }
        let lines = String(decoding: bytes[..<headEnd], as: UTF8.self).components(separatedBy: "\r\n")
        guard let statusLine = lines.first, statusLine.split(separator: " ").count >= 2,
            let status = Int(statusLine.split(separator: " ")[1])
        else { return nil }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces)
        }
        let body = Array(bytes[(headEnd + 4)...])
        let length = headers["content-length"].flatMap(Int.init) ?? 0
        guard body.count >= length else { return nil }
        return (status, headers, Array(body.prefix(length)))
    }
}

extension Process {
    /// The process's soft and hard open-file limits as `/proc` shows them.
    public static func openFileLimit(pid: Int32) -> (soft: Int, hard: Int)? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Max open files") })
        else { return nil }
        let numbers = line.split(separator: " ").compactMap { Int($0) }
        guard numbers.count >= 2 else { return nil }
        return (numbers[0], numbers[1])
    }
}

/// Raises this process's soft open-file limit to its hard one, and says whether that
/// allows `count` descriptors: a test that holds thousands of connections needs as many
/// descriptors as the server it tries.
public func ownOpenFileLimitCanReach(_ count: Int) -> Bool {
    var limit = rlimit()
    getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
    limit.rlim_cur = limit.rlim_max
    setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
    getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
    return limit.rlim_cur >= rlim_t(count)
}

/// This process's hard open-file limit: what a child may be given without privileges.
public func ownHardOpenFileLimit() -> Int {
    var limit = rlimit()
    getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
    return limit.rlim_max > rlim_t(Int.max) ? Int.max : Int(limit.rlim_max)
}

/// The LimitNOFILE= a unit template in units/ sets: tests run the daemons under it.
public func unitOpenFileLimit(_ template: String) throws -> Int {
    let units = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("units")
    let text = try String(contentsOf: units.appendingPathComponent(template), encoding: .utf8)
    guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("LimitNOFILE=") }),
        let value = Int(line.dropFirst("LimitNOFILE=".count))
    else { throw RawConnection.Failure(description: "\(template) sets no LimitNOFILE=") }
    return value
}

extension RawConnection {
    /// `readUntilClosed` on a thread of dispatch's: a test whose server's tasks may run on
    /// the test's own executor (HummingbirdTesting's live server does) must not block it.
    public func closing(timeout: Duration) async -> (bytes: [UInt8], closed: Bool) {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: self.readUntilClosed(timeout: timeout)) }
        }
    }

    /// `readResponse` on a thread of dispatch's; see `closing`.
    public func response(timeout: Duration) async -> (status: Int, headers: [String: String], body: [UInt8])? {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: self.readResponse(timeout: timeout)) }
        }
    }
}
