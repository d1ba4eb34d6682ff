import ArgumentParser
import Foundation

/// An error whose message is complete as it is: printed without a usage block.
public struct CommandFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension ParsableCommand {
    /// Runs the command; an error prints as one line (`NAME: error: ...`) and exits
    /// non-zero, `--help` prints help. ArgumentParser's default adds a usage block to
    /// every error, which cron mails and journals do not need.
    public static func mainWithOneLineErrors() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }
            let name = configuration.commandName ?? "\(Self.self)"
            // Usage mistakes (exit code 64) point at --help; other errors speak for themselves.
            var text = error is CommandFailure ? "\(error)" : message(for: error)
            if code == .validationFailure { text += " (see '\(name) --help')" }
            FileHandle.standardError.write(Data("\(name): error: \(text)\n".utf8))
            Foundation.exit(code.rawValue == 0 ? 1 : code.rawValue)
        }
    }
}

extension AsyncParsableCommand {
    /// `mainWithOneLineErrors` for a command whose `run` is async (a server under a
    /// `ServiceGroup`).
    public static func mainWithOneLineErrors() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }
            let name = configuration.commandName ?? "\(Self.self)"
            var text = error is CommandFailure ? "\(error)" : message(for: error)
            if code == .validationFailure { text += " (see '\(name) --help')" }
            FileHandle.standardError.write(Data("\(name): error: \(text)\n".utf8))
            Foundation.exit(code.rawValue == 0 ? 1 : code.rawValue)
        }
    }
}
