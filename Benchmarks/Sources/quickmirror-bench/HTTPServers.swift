import ArgumentParser
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// What the HTTP benchmarks share beside the servers they start (ChildProcesses.swift):
/// wrk, read the same way for every server in a run, and the waits for a server.

struct WrkResult {
    var rate: Double
    var latencyMilliseconds: Double
    /// Body and header bytes per second, as wrk counts them.
    var bytesPerSecond: Double
}

/// wrk against `url`; `script` (Lua) when each request names another path.
func wrk(
    _ url: String, etag: String? = nil, gzip: Bool = false, accept: String? = nil, script: String? = nil, threads: Int,
    connections: Int, duration: Int
) throws -> WrkResult {
    // wrk gives up on a response after 2 s by default: a 1 GiB body on 4 connections
    // takes longer, and was counted as a timeout.
    var arguments = ["-t\(threads)", "-c\(connections)", "-d\(duration)s", "--latency", "--timeout", "60s"]
    if let etag { arguments += ["-H", "If-None-Match: \(etag)"] }
    if gzip { arguments += ["-H", "Accept-Encoding: gzip"] }
    if let accept { arguments += ["-H", "Accept: \(accept)"] }
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
    guard let (unit, scale) = times.first(where: { mean.hasSuffix($0.0) }),
        let latency = Double(mean.dropLast(unit.count))
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

/// Waits until something answers HTTP on `url`.
func waitForHTTP(_ url: String, timeout: Duration = .seconds(60)) throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if let code = try? curl(["-s", "-o", "/dev/null", "-w", "%{http_code}", url]), code != "000" { return }
        usleep(100_000)
    }
    throw ValidationError("nothing answers on \(url)")
}
