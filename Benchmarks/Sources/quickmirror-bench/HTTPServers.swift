import ArgumentParser
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// What the HTTP benchmarks share: the servers they start (ours, and nginx as the
/// yardstick), and wrk, read the same way for every server in a run.

struct WrkResult {
    var rate: Double
    var latencyMilliseconds: Double
    /// Body and header bytes per second, as wrk counts them.
    var bytesPerSecond: Double
}

/// wrk against `url`; `script` (Lua) when each request names another path.
func wrk(
    _ url: String, etag: String? = nil, gzip: Bool = false, script: String? = nil, threads: Int, connections: Int,
    duration: Int
) throws -> WrkResult {
    var arguments = ["-t\(threads)", "-c\(connections)", "-d\(duration)s", "--latency"]
    if let etag { arguments += ["-H", "If-None-Match: \(etag)"] }
    if gzip { arguments += ["-H", "Accept-Encoding: gzip"] }
    if let script { arguments += ["-s", script] }
    let output = try capture("/usr/bin/wrk", arguments + [url])
    let lines = output.split(separator: "\n")
    func value(after label: String) -> Substring? {
        lines.first(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix(label) })?
            .split(separator: " ", omittingEmptySubsequences: true).dropFirst(label.split(separator: " ").count).first
    }
    guard let rate = value(after: "Requests/sec:").flatMap({ Double($0) }), let mean = value(after: "Latency"),
        let transfer = value(after: "Transfer/sec:")
    else { throw ValidationError("cannot read wrk's output:\n\(output)") }
    if output.contains("Non-2xx or 3xx") || output.contains("Socket errors") {
        FileHandle.standardError.write(Data("wrk \(url):\n\(output)\n".utf8))
    }
    let times: [(String, Double)] = [("us", 0.001), ("ms", 1), ("s", 1000)]
    guard let (unit, scale) = times.first(where: { mean.hasSuffix($0.0) }), let latency = Double(mean.dropLast(unit.count))
    else { throw ValidationError("cannot read wrk's latency '\(mean)'") }
    let sizes: [(String, Double)] = [("GB", 1_073_741_824), ("MB", 1_048_576), ("KB", 1024), ("B", 1)]
    guard let (sizeUnit, multiplier) = sizes.first(where: { transfer.hasSuffix($0.0) }),
        let amount = Double(transfer.dropLast(sizeUnit.count))
    else { throw ValidationError("cannot read wrk's transfer rate '\(transfer)'") }
    return WrkResult(rate: rate, latencyMilliseconds: latency * scale, bytesPerSecond: amount * multiplier)
}

/// The server's ETag for `url`, from a GET whose body is dropped.
func etag(_ url: String, status expected: String = "200") throws -> String {
    let deadline = ContinuousClock.now + .seconds(60)
    while ContinuousClock.now < deadline {
        let headers = (try? curl(["-s", "-o", "/dev/null", "-D", "-", url])) ?? ""
        let lines = headers.split(whereSeparator: \.isNewline)
        if lines.first?.contains(" \(expected)") == true,
            let line = lines.first(where: { $0.lowercased().hasPrefix("etag:") })
        {
            return line.dropFirst("etag:".count).trimmingCharacters(in: .whitespaces)
        }
        usleep(100_000)
    }
    throw ValidationError("\(url) gave no ETag")
}

/// nginx serving `root` on 127.0.0.1:`port`, as a mirror would: sendfile, ETags, a
/// `.gz` beside a file served to clients that ask for gzip.
func startNginx(scratch: String, port: Int, root: String) throws -> Process {
    let configuration = "\(scratch)/nginx.conf"
    try """
    daemon off;
    worker_processes auto;
    user root;
    pid \(scratch)/nginx.pid;
    error_log \(scratch)/nginx-error.log;
    events { worker_connections 1024; }
    http {
        access_log off;
        sendfile on;
        etag on;
        gzip_static on;
        default_type text/plain;
        client_body_temp_path \(scratch)/nginx-body;
        proxy_temp_path \(scratch)/nginx-proxy;
        fastcgi_temp_path \(scratch)/nginx-fastcgi;
        uwsgi_temp_path \(scratch)/nginx-uwsgi;
        scgi_temp_path \(scratch)/nginx-scgi;
        server { listen 127.0.0.1:\(port); root \(root); }
    }

    """.write(toFile: configuration, atomically: true, encoding: .utf8)
    return try start("/usr/sbin/nginx", ["-c", configuration, "-p", scratch], log: "\(scratch)/nginx.log")
}

func start(_ tool: String, _ arguments: [String], log: String, environment: [String: String]? = nil) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: tool)
    process.arguments = arguments
    if let environment { process.environment = environment }
    _ = FileManager.default.createFile(atPath: log, contents: nil)
    process.standardError = FileHandle(forWritingAtPath: log)
    process.standardOutput = FileHandle(forWritingAtPath: log)
    try process.run()
    return process
}

func stop(_ process: Process) {
    kill(process.processIdentifier, SIGTERM)
    process.waitUntilExit()
}

/// Waits until something answers HTTP on `url`.
func waitForHTTP(_ url: String, timeout: Duration = .seconds(60)) throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if let code = try? curl(["-s", "-o", "/dev/null", "-w", "%{http_code}", url]), code != "000" { return }
        usleep(100_000)
    }
    throw ValidationError("nothing answers on \(url)")
}

/// A port nothing listens on now (the kernel's pick for a socket bound to port 0).
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    guard bound else { throw ValidationError("cannot find a free port") }
    return Int(UInt16(bigEndian: address.sin_port))
}
