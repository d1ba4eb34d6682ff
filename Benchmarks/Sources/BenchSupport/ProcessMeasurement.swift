import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One run of a command: wall time and the peak resident set of the process.
public struct RunMeasurement {
    public var seconds: Double
    public var peakRSSBytes: Int
    public var status: Int32
}

/// Runs a command with standard output sent to a file (or /dev/null) and measures it:
/// wall time here, peak RSS through `peak-rss` (the main package's), which starts the
/// command from a small process of its own. Measured directly with wait4(2), a command
/// started from this process would "peak" at this process's size: the kernel carries the
/// address space left at exec into the figure (peak-rss's source says more).
public func measure(_ arguments: [String], stdout: String = "/dev/null") throws -> RunMeasurement {
    let figure = "\(NSTemporaryDirectory())/quickmirror-bench-peak-\(getpid())"
    defer { unlink(figure) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    let tool = try peakRSSTool()
    let argv = ([tool, figure] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid = pid_t()
    let start = ContinuousClock.now
    let spawned = posix_spawn(&pid, tool, &actions, nil, argv, environ)
    guard spawned == 0 else { throw BenchError("cannot run \(tool): \(String(cString: strerror(spawned)))") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    let elapsed = ContinuousClock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    guard let text = try? String(contentsOfFile: figure, encoding: .utf8),
        let kib = Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
    else { throw BenchError("\(tool) gave no figure for \(arguments.joined(separator: " "))") }
    // peak-rss exits as the command did; a signal is 128 + its number there.
    let code = (status >> 8) & 0xFF
    return RunMeasurement(seconds: seconds, peakRSSBytes: kib * 1024, status: code)
}

/// `peak-rss`: `QUICKMIRROR_PEAK_RSS` (Benchmarks/run.sh sets it to the release build's),
/// else the main package's release build beside the benchmarks' directory.
func peakRSSTool() throws -> String {
    let candidates = [
        ProcessInfo.processInfo.environment["QUICKMIRROR_PEAK_RSS"],
        FileManager.default.currentDirectoryPath + "/../.build/release/peak-rss",
    ].compactMap { $0 }
    guard let found = candidates.first(where: { access($0, X_OK) == 0 }) else {
        throw BenchError(
            "peak-rss not found (tried \(candidates.joined(separator: ", "))): "
                + "build it with `swift build -c release --product peak-rss` in the main package, or run Benchmarks/run.sh")
    }
    return found
}

public struct BenchError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

public func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1
        ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}
