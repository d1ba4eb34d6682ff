import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import MirrorCache
import Testing
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import TreeFixtures
import UpstreamListing

#if canImport(Glibc)
    import Glibc
#endif

/// A cache running in the test's process on 127.0.0.1, in front of one or more test
/// upstreams, with its own temporary directory.
final class CacheHarness: Sendable {
    let cache: MirrorCache
    let port: Int
    let directory: String
    let upstreams: [ThrottledFileServer]
    private let scratch: TemporaryTree?

    init(
        upstreams: [ThrottledFileServer], cacheDirectory: String? = nil, listed: (any ListedFiles)? = nil,
        configure: (inout CacheConfiguration) -> Void = { _ in }
    ) async throws {
        self.upstreams = upstreams
        scratch = cacheDirectory == nil ? try TemporaryTree("cache") : nil
        directory = cacheDirectory ?? scratch!.root
        var configuration = CacheConfiguration(
            upstreams: upstreams.map(\.url), cacheDirectory: directory, host: "127.0.0.1", port: 0)
        // Long enough that a loaded machine (the whole suite on two cores) is not a stall;
        // the stall test sets its own.
        configuration.stallTimeout = .seconds(15)
        configure(&configuration)
        var logger = Logger(label: "mirror-cache-test")
        logger.logLevel = ProcessInfo.processInfo.environment["MIRROR_CACHE_LOG"] != nil ? .info : .critical
        cache = try MirrorCache(configuration: configuration, listed: listed, logger: logger)
        port = try await cache.start()
    }

    var url: String { "http://127.0.0.1:\(port)" }

    func stop() async { await cache.shutdown() }

    /// The stored copy of a reverse-mode path, if any, once no fetch runs: a client has
    /// its last byte before the cache's copy is durable and named.
    func stored(_ path: String) -> [UInt8]? {
        settle()
        return FileManager.default.contents(atPath: directory + "/reverse/" + path).map { Array($0) }
    }

    func partialFiles() -> [String] {
        settle()
        return (try? FileManager.default.contentsOfDirectory(atPath: directory + "/.partial")) ?? []
    }

    /// Waits until no fetch runs: the copies the clients had are then stored and named.
    func settle() {
        #expect(DaemonProcess.wait(timeout: .seconds(60)) { cache.fetchesInProgress == 0 }, "fetches still running")
    }
}

/// What a client got: the status, the fields, the body's digest and length, when its
/// first body byte came, and the error that ended it early (a cut connection).
struct Received: Sendable {
    var status: Int
    var headers: [String: String]
    var body: [UInt8]
    var sha256: String
    var firstByte: ContinuousClock.Instant?
    var error: String?

    var complete: Bool { error == nil }
}

extension Received: CustomTestStringConvertible {
    /// What a failed expectation shows: not megabytes of body.
    var testDescription: String {
        "status \(status), \(body.count) bytes kept, sha256 \(sha256.prefix(12)), error \(error ?? "none")"
    }
}

enum Client {
    static let http: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 256
        configuration.decompression = .disabled
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    /// A GET (or HEAD) read to its end; `keep` keeps the body (else only its digest).
    /// The bytes are taken on SwiftNIO's threads (a response delegate), so the time of the
    /// first byte is when it came, not when a busy task pool got round to it.
    static func get(
        _ url: String, method: HTTPMethod = .GET, headers: [String: String] = [:], keep: Bool = true,
        onFirstByte: (@Sendable () -> Void)? = nil
    ) async -> Received {
        let collector = Collector(keep: keep, onFirstByte: onFirstByte)
        do {
            var request = try HTTPClient.Request(url: url, method: method)
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            let task = http.execute(request: request, delegate: collector, deadline: .now() + .seconds(120))
            _ = try await task.futureResult.get()
        } catch {
            collector.failed(error)
        }
        return collector.result
    }

    final class Collector: HTTPClientResponseDelegate, Sendable {
        typealias Response = Void
        private struct State {
            var received = Received(status: 0, headers: [:], body: [], sha256: "", firstByte: nil, error: nil)
            var hasher = SHA256()
        }
        private let state = Mutex(State())
        let keep: Bool
        let onFirstByte: (@Sendable () -> Void)?

        init(keep: Bool, onFirstByte: (@Sendable () -> Void)? = nil) {
            self.keep = keep
            self.onFirstByte = onFirstByte
        }

        var result: Received {
            state.withLock { state in
                var received = state.received
                received.sha256 = Client.hex(state.hasher.finalize())
                return received
            }
        }

        func failed(_ error: any Error) { state.withLock { $0.received.error = $0.received.error ?? "\(error)" } }

        func didReceiveHead(task: HTTPClient.Task<Void>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
            state.withLock { state in
                state.received.status = Int(head.status.code)
                for (name, value) in head.headers { state.received.headers[name.lowercased()] = value }
            }
            return task.eventLoop.makeSucceededVoidFuture()
        }

        func didReceiveBodyPart(task: HTTPClient.Task<Void>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
            let first = state.withLock { state in
                let first = state.received.firstByte == nil
                if first { state.received.firstByte = .now }
                buffer.withUnsafeReadableBytes { state.hasher.update(bufferPointer: $0) }
                if keep { state.received.body += buffer.readableBytesView }
                return first
            }
            if first { onFirstByte?() }
            return task.eventLoop.makeSucceededVoidFuture()
        }

        func didReceiveError(task: HTTPClient.Task<Void>, _ error: any Error) { failed(error) }

        func didFinishRequest(task: HTTPClient.Task<Void>) throws {}
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.map { String(format: "%02x", $0) }.joined()
    }

    static func sha256(_ bytes: [UInt8]) -> String { hex(SHA256.hash(data: bytes)) }

    /// A request written byte for byte (no client library normalizes its target), and the
    /// whole answer as text.
    static func raw(port: Int, _ request: String, from source: String = "127.0.0.1") throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        local.sin_addr.s_addr = inet_addr(source)
        var remote = sockaddr_in()
        remote.sin_family = sa_family_t(AF_INET)
        remote.sin_addr.s_addr = inet_addr("127.0.0.1")
        remote.sin_port = UInt16(port).bigEndian
        let size = socklen_t(MemoryLayout<sockaddr_in>.size)
        let connected = withUnsafePointer(to: &local) { localPointer in
            withUnsafePointer(to: &remote) { remotePointer in
                localPointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { l in
                    remotePointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { r in
                        bind(fd, l, size) == 0 && connect(fd, r, size) == 0
                    }
                }
            }
        }
        guard connected else { throw RawFailure(description: "raw connect: \(String(cString: strerror(errno)))") }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let bytes = Array(request.utf8)
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            answer += buffer[0..<n]
        }
        return String(decoding: answer, as: UTF8.self)
    }
}

struct RawFailure: Error, CustomStringConvertible {
    var description: String
}

/// An upstream tree with files of random bytes.
final class UpstreamTree: Sendable {
    let tree: TemporaryTree
    var root: String { tree.root }

    init() throws { tree = try TemporaryTree("upstream") }

    @discardableResult
    func file(_ path: String, size: Int, seed: UInt64 = 1, mtime: Int? = nil) throws -> [UInt8] {
        var generator = SeededRandom(seed: seed &+ UInt64(size))
        var bytes = [UInt8](repeating: 0, count: size)
        var index = 0
        while index < size {
            var word = generator.next()
            for _ in 0..<8 where index < size {
                bytes[index] = UInt8(truncatingIfNeeded: word)
                word >>= 8
                index += 1
            }
        }
        _ = try tree.bytesFile(path, bytes)
        if let mtime { setTime(path, mtime) }
        return bytes
    }

    func setTime(_ path: String, _ seconds: Int) {
        var times = [timespec(tv_sec: seconds, tv_nsec: 0), timespec(tv_sec: seconds, tv_nsec: 0)]
        utimensat(AT_FDCWD, tree.path(path), &times, 0)
    }
}

/// The test's stand-in for the list reader: the lines it says, set by hand.
final class HandListed: ListedFiles {
    private let lines = Mutex<[String: ListedFile]>([:])
    /// Paths below this prefix are covered by the list.
    let coveredPrefix: String?

    init(covering prefix: String? = nil) { coveredPrefix = prefix }

    func set(_ path: String, _ line: ListedFile?) { lines.withLock { $0[path] = line } }
    func listed(_ path: String) -> ListedFile? { lines.withLock { $0[path] } }
    func isCovered(_ path: String) -> Bool { coveredPrefix.map { path.hasPrefix($0) } ?? false }
}
