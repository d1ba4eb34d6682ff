import Foundation

/// Runs one of the package's executables, as an operator would.
public struct Command {
    public struct Result: Sendable {
        public var status: Int32
        public var stdout: [UInt8]
        public var stderr: String
        public var stderrLines: [Substring] { stderr.split(separator: "\n") }
    }

    /// The build products directory: executables sit beside the test bundle.
    public static let productsDirectory: URL = {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return exe.deletingLastPathComponent()
    }()

    /// A package executable by name, or an absolute path as given.
    public static func executable(_ name: String) -> URL {
        name.hasPrefix("/") ? URL(fileURLWithPath: name) : productsDirectory.appendingPathComponent(name)
    }

    /// Starts the command (a built tool, or a program by its absolute path) without
    /// waiting, for tests that kill it.
    public static func start(_ name: String, _ arguments: [String], log: String? = nil, stdoutToLog: Bool = false)
        throws -> Process
    {
        let process = Process()
        process.executableURL = executable(name)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        if let log {
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            process.standardError = FileHandle(forWritingAtPath: log)
            if stdoutToLog { process.standardOutput = process.standardError }
        }
        try process.run()
        return process
    }

    public static func run(_ name: String, _ arguments: [String]) throws -> Result {
        let process = Process()
        process.executableURL = executable(name)
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes to the end before waiting, or a large list fills the pipe and blocks.
        nonisolated(unsafe) var errData = Data()
        let errReader = Thread { errData = err.fileHandleForReading.readDataToEndOfFile() }
        errReader.start()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        while !errReader.isFinished { usleep(1000) }
        return Result(
            status: process.terminationStatus, stdout: Array(outData), stderr: String(decoding: errData, as: UTF8.self))
    }
}

extension Command {
    /// Runs a shell command line (for mount and the like); returns its exit status.
    public static func runShell(_ line: String) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", line]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return -1 }
        process.waitUntilExit()
        return process.terminationStatus
    }
}
