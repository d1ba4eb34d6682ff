import ArgumentParser
import BenchSupport
import Foundation

@main
struct QuickMirrorBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quickmirror-bench",
        abstract:
            "Measure filelistd on a generated tree, the index alone, quick-mirror's planning, list deltas, mirror-cache's listing, and mirror-cache against nginx.",
        subcommands: [
            DaemonRun.self, ScaleRun.self, PollRun.self, IndexRun.self, PlanRun.self, PlanOnce.self, DeltaRun.self,
            ListingRun.self, CacheRun.self, StatusRun.self,
        ])
}

/// Resident set of a process, from /proc: all of it (`VmRSS`), or only its anonymous
/// memory (`RssAnon`: what it allocated, without the program's and libraries' code
/// pages, which are file-backed, shared and reclaimable).
func residentBytes(pid: Int32 = getpid(), field: String = "VmRSS") -> Int {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") })
    else { return 0 }
    return (Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0) * 1024
}

/// The port filelistd's log says it serves HTTP on.
func servedPort(log: String) throws -> Int {
    let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
    guard let range = text.range(of: #"address=127\.0\.0\.1:[0-9]+"#, options: .regularExpression),
        let port = Int(text[range].split(separator: ":").last ?? "")
    else { throw ValidationError("filelistd did not say where it serves HTTP") }
    return port
}

/// Waits until `url` comes gzip-compressed (filelistd makes that form after the
/// generation is announced); returns its size.
func waitForGzip(_ url: String) throws -> Int {
    let deadline = ContinuousClock.now + .seconds(120)
    while ContinuousClock.now < deadline {
        let answer = try curl([
            "-s", "-o", "/dev/null", "-H", "Accept-Encoding: gzip", "-w", "%header{content-encoding} %{size_download}",
            url,
        ])
        let fields = answer.split(separator: " ")
        if fields.first == "gzip", let size = Int(fields.last ?? "") { return size }
        usleep(100_000)
    }
    throw ValidationError("\(url) never came gzip-compressed")
}

func curl(_ arguments: [String]) throws -> String { try capture("/usr/bin/curl", arguments) }

func capture(_ tool: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: tool)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}

func seconds(since start: ContinuousClock.Instant) -> Double {
    let elapsed = (ContinuousClock.now - start).components
    return Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
}

#if canImport(Glibc)
    import Glibc
#endif
