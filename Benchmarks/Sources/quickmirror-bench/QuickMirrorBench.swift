import ArgumentParser
import BenchSupport
import Foundation

@main
struct QuickMirrorBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quickmirror-bench",
        abstract: "Measure filelistd on a generated tree, the index alone, quick-mirror's planning, and list deltas.",
        subcommands: [DaemonRun.self, IndexRun.self, PlanRun.self, PlanOnce.self, DeltaRun.self])
}

/// Resident set of a process, from /proc.
func residentBytes(pid: Int32 = getpid()) -> Int {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
    else { return 0 }
    return (Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0) * 1024
}

func seconds(since start: ContinuousClock.Instant) -> Double {
    let elapsed = (ContinuousClock.now - start).components
    return Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
}

#if canImport(Glibc)
    import Glibc
#endif
