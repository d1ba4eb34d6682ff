import Foundation
import ListTransport
import Logging

/// Runs rsync, the transfer engine: nothing here copies file data itself.
public struct Rsync: Sendable {
    /// RSYNC.
    public var executable = "/usr/bin/rsync"
    public var timeout: Int
    /// RSYNCOPTS, after ours.
    public var extraOptions: [String]
    /// Attempts of one call (MAXRETRIES, the reference's meaning).
    public var attempts: Int
    /// The pauses between attempts: 2, 4, 8... seconds, as the reference.
    public var backoff = Backoff(first: .seconds(2))
    /// Let rsync draw its overall progress line (for a person at a terminal).
    public var showsProgress = false
    /// Added to rsync's environment: what the configuration exports.
    public var environment: [String: String] = [:]

    /// The exit codes the reference retries: 5 (starting the client-server protocol),
    /// 10 (socket I/O), 23 (partial transfer), 30 (timeout), 35 (daemon connection
    /// timeout). 24 (files vanished on a live mirror) counts as success: the next list
    /// names what replaced them. Anything else will not get better by waiting.
    static let retryable: Set<Int32> = [5, 10, 23, 30, 35]

    public struct Failure: Error, CustomStringConvertible {
        public var status: Int32
        public var output: String
        public var description: String {
            "rsync failed with status \(status)" + (output.isEmpty ? "" : ": \(output.suffix(500))")
        }
    }

    public init(timeout: Int, extraOptions: [String], attempts: Int) {
        self.timeout = timeout
        self.extraOptions = extraOptions
        self.attempts = max(attempts, 1)
    }

    /// Fetches the paths listed in `filesFrom` (relative to `source`) into `destination`,
    /// keeping hard links among them (-H), sparse files, and the reference's protection
    /// of `.~tmp~` staging directories; new files appear all at once (--delay-updates).
    /// `--force` lets a directory that became a file upstream be replaced: without it
    /// rsync cannot "make way" for the file, and every later run would fail the same way.
    /// `--modify-window=-1`: times compared to the nanosecond, so that a directory or
    /// file touched within the same second as upstream's still gets upstream's time
    /// (rsync's default compares whole seconds).
    /// `missingAllowed`: paths upstream may not have (EXTRAFILES, directories whose
    /// times are restored) are skipped rather than failing the call.
    /// Returns what rsync counted (every attempt's), nil when it could not be read: rsync
    /// prints its statistics on standard output, which shows the progress instead when
    /// there is a person to see it.
    @discardableResult
    public func transfer(
        source: String, destination: String, filesFrom: String, checksum: Bool = false, missingAllowed: Bool = false,
        logger: Logger
    ) throws -> TransferStatistics? {
        var arguments = [
            "-aSH", "--delay-updates", "--force", "--modify-window=-1", "--no-motd", "--timeout=\(timeout)",
            "--files-from=\(filesFrom)",
            "--filter=protect .~tmp~/", "--filter=exclude .~tmp~/",
        ]
        if checksum { arguments.append("--checksum") }
        if missingAllowed { arguments.append("--ignore-missing-args") }
        if showsProgress { arguments.append("--info=progress2") } else { arguments.append("--stats") }
        arguments += extraOptions + [source.hasSuffix("/") ? source : source + "/", destination + "/"]
        return try runWithRetries(arguments, logger: logger, statisticsFile: showsProgress ? nil : filesFrom + ".stats")
    }

    /// Copies single files (the lists) into a staging directory, with their mode and time.
    /// The caller seeds the directory with the installed lists, so an unchanged list is
    /// not sent again (rsync's size-and-time check), and a changed one travels compressed
    /// and as a delta of the old one, as the reference client fetches them. The
    /// operator's RSYNCOPTS apply here too (a port, a password file, a bandwidth limit).
    public func fetch(source: String, paths: [String], into directory: String, logger: Logger) throws {
        let listFile = directory + "/.files-from"
        try paths.joined(separator: "\n").appending("\n").write(toFile: listFile, atomically: true, encoding: .utf8)
        let arguments =
            [
                "-tp", "--compress", "--no-motd", "--timeout=\(timeout)", "--files-from=\(listFile)",
            ] + extraOptions + [source.hasSuffix("/") ? source : source + "/", directory + "/"]
        try runWithRetries(arguments, logger: logger)
    }

    /// `statisticsFile`: where rsync's standard output goes, to be read for its `--stats`.
    @discardableResult
    func runWithRetries(_ arguments: [String], logger: Logger, statisticsFile: String? = nil) throws
        -> TransferStatistics?
    {
        var statistics: TransferStatistics? = statisticsFile == nil ? nil : TransferStatistics()
        let (status, output) = try backoff.run(retries: attempts - 1) { retry, pause, outcome in
            logger.warning(
                "rsync failed with status \(outcome.status); attempt \(retry + 1) of \(attempts) in \(Int(Backoff.seconds(pause))) s",
                metadata: ["item": "e"])
        } _: { () throws -> Backoff.Attempt<(status: Int32, output: String)> in
            let (status, output) = try run(arguments, standardOutput: statisticsFile)
            if let statisticsFile {
                // A failed attempt may have sent files before it failed: they count too. One
                // that ended before printing its statistics counts as nothing sent.
                let text: String
                do {
                    text = try String(contentsOfFile: statisticsFile, encoding: .utf8)
                } catch {
                    logger.warning("cannot read rsync's statistics: \(error)", metadata: ["item": "e"])
                    text = ""
                }
                if let counted = TransferStatistics(rsyncOutput: text) {
                    statistics = statistics.map { $0 + counted }
                } else if status == 0 || status == 24 {
                    logger.debug("no statistics in rsync's output", metadata: ["item": "e"])
                    statistics = nil
                }
            }
            return Self.retryable.contains(status) ? .again((status, output)) : .done((status, output))
        }
        if status == 0 { return statistics }
        if status == 24 {
            logger.warning("rsync says source files vanished; ignoring", metadata: ["item": "e"])
            return statistics
        }
        throw Failure(status: status, output: output)
    }

    /// `standardOutput`: a file for rsync's standard output (replaced); otherwise it goes
    /// to the terminal with the progress, or nowhere.
    func run(_ arguments: [String], standardOutput: String? = nil) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let errors = Pipe()
        process.standardError = errors
        // Progress goes to the terminal; otherwise rsync's chatter goes nowhere.
        if let standardOutput {
            // A file, not a pipe: with RSYNCOPTS=-v rsync writes a line per file, and a pipe
            // read only after the error pipe would fill and stop it.
            guard FileManager.default.createFile(atPath: standardOutput, contents: nil),
                let file = FileHandle(forWritingAtPath: standardOutput)
            else { throw Failure(status: 127, output: "cannot create \(standardOutput)") }
            process.standardOutput = file
        } else {
            let progress = showsProgress && arguments.contains("--info=progress2")
            process.standardOutput = progress ? FileHandle.standardOutput : FileHandle.nullDevice
        }
        do {
            try process.run()
        } catch {
            throw Failure(status: 127, output: "cannot run \(executable): \(error)")
        }
        let output = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }
}
