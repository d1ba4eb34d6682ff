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

/// Runs a command with standard output sent to a file (or /dev/null) and measures it
/// with wait4(2), which reports the child's own peak RSS.
public func measure(_ arguments: [String], stdout: String = "/dev/null") throws -> RunMeasurement {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    let argv = arguments.map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid = pid_t()
    let start = ContinuousClock.now
    let spawned = posix_spawnp(&pid, arguments[0], &actions, nil, argv, environ)
    guard spawned == 0 else {
        throw NSError(
            domain: "bench", code: Int(spawned),
            userInfo: [NSLocalizedDescriptionKey: "cannot run \(arguments[0]): \(String(cString: strerror(spawned)))"])
    }
    var status: Int32 = 0
    var usage = rusage()
    while wait4(pid, &status, 0, &usage) == -1 && errno == EINTR {}
    let elapsed = ContinuousClock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return RunMeasurement(seconds: seconds, peakRSSBytes: usage.ru_maxrss * 1024, status: status)
}

public func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1
        ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}
