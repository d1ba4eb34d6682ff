import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A `filelistd` started for one test, with its own runtime directory; stopped (SIGTERM)
/// when the test is done with it.
public final class DaemonProcess: @unchecked Sendable {
    public let process: Process
    public let runtimeDirectory: TemporaryTree
    public let logPath: String
    public let root: String
    public let configFile: String?

    /// `wrapper`: a command that runs filelistd (its path and arguments follow), such as
    /// `prlimit --nofile=N:N` for a descriptor limit.
    public init(
        root: String, arguments: [String] = [], environment: [String: String] = [:], configFile: String? = nil,
        wrapper: [String] = []
    ) throws {
        self.root = root
        runtimeDirectory = try TemporaryTree("run")
        logPath = runtimeDirectory.path("filelistd.log")
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process = Process()
        self.configFile = configFile
        process.arguments =
            (configFile.map { ["--config", $0] } ?? ["--dir", root])
            + ["--runtime-directory", runtimeDirectory.root] + arguments
        if let command = wrapper.first {
            process.executableURL = URL(fileURLWithPath: command)
            process.arguments = Array(wrapper.dropFirst()) + [Command.executable("filelistd").path] + process.arguments!
        } else {
            process.executableURL = Command.executable("filelistd")
        }
        process.environment = ProcessInfo.processInfo.environment.filter { $0.key != "NOTIFY_SOCKET" }
            .merging(environment) { $1 }
        let log = FileHandle(forWritingAtPath: logPath)
        process.standardError = log
        process.standardOutput = log
        try process.run()
    }

    deinit { stop() }

    public func stop() { process.terminate(within: .seconds(20)) }

    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Runs `filelistd COMMAND` against this daemon.
    public func control(_ command: String) throws -> String {
        let result = try Command.run(
            "filelistd",
            [command] + (configFile.map { ["--config", $0] } ?? ["--dir", root])
                + ["--runtime-directory", runtimeDirectory.root])
        return String(decoding: result.stdout, as: UTF8.self) + result.stderr
    }

    /// Polls until `condition` holds or `timeout` passes; returns whether it held.
    @discardableResult
    public static func wait(timeout: Duration = .seconds(20), until condition: () throws -> Bool) rethrows -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try condition() { return true }
            usleep(50_000)
        }
        return try condition()
    }
}
