import Foundation

/// Runs rsync, the transfer engine: nothing here copies file data itself.
public struct Rsync: Sendable {
    public var executable = "/usr/bin/rsync"
    public var timeout: Int
    public var extraOptions: [String]
    public var maxRetries: Int
    /// Seconds before the first retry; doubled after each failure.
    public var firstBackoff: Double = 2
    /// Let rsync draw its overall progress line (for a person at a terminal).
    public var showsProgress = false

    public struct Failure: Error, CustomStringConvertible {
        public var status: Int32
        public var output: String
        public var description: String {
            "rsync failed with status \(status)" + (output.isEmpty ? "" : ": \(output.suffix(500))")
        }
    }

    public init(timeout: Int, extraOptions: [String], maxRetries: Int) {
        self.timeout = timeout
        self.extraOptions = extraOptions
        self.maxRetries = maxRetries
    }

    /// Fetches the paths listed in `filesFrom` (relative to `source`) into `destination`,
    /// keeping hard links among them (-H), sparse files, and the reference's protection
    /// of `.~tmp~` staging directories; new files appear all at once (--delay-updates).
    /// `--force` lets a directory that became a file upstream be replaced: without it
    /// rsync cannot "make way" for the file, and every later run would fail the same way.
    public func transfer(
        source: String, destination: String, filesFrom: String, checksum: Bool = false, log: (String) -> Void
    ) throws {
        var arguments = [
            "-aSH", "--delay-updates", "--force", "--no-motd", "--timeout=\(timeout)", "--files-from=\(filesFrom)",
            "--filter=protect .~tmp~/", "--filter=exclude .~tmp~/",
        ]
        if checksum { arguments.append("--checksum") }
        if showsProgress { arguments.append("--info=progress2") }
        arguments += extraOptions + [source.hasSuffix("/") ? source : source + "/", destination + "/"]
        try runWithRetries(arguments, log: log)
    }

    /// Copies single files (the lists) into a staging directory.
    public func fetch(source: String, paths: [String], into directory: String, log: (String) -> Void) throws {
        let listFile = directory + "/.files-from"
        try paths.joined(separator: "\n").appending("\n").write(toFile: listFile, atomically: true, encoding: .utf8)
        let arguments = [
            "-t", "--no-motd", "--timeout=\(timeout)", "--files-from=\(listFile)",
            source.hasSuffix("/") ? source : source + "/", directory + "/",
        ]
        try runWithRetries(arguments, log: log)
    }

    func runWithRetries(_ arguments: [String], log: (String) -> Void) throws {
        var attempt = 0
        var backoff = firstBackoff
        while true {
            let (status, output) = try run(arguments)
            // 24: some source files vanished during the transfer, as they do on a live
            // mirror; the next run picks up what replaced them.
            if status == 0 || status == 24 { return }
            attempt += 1
            guard attempt <= maxRetries else { throw Failure(status: status, output: output) }
            log("rsync failed with status \(status); retry \(attempt) of \(maxRetries) in \(Int(backoff)) s")
            Thread.sleep(forTimeInterval: backoff)
            backoff *= 2
        }
    }

    func run(_ arguments: [String]) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        // Progress goes to the terminal; otherwise rsync's chatter goes nowhere.
        process.standardOutput =
            showsProgress && arguments.contains("--info=progress2") ? FileHandle.standardOutput : FileHandle.nullDevice
        try process.run()
        let output = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }
}
