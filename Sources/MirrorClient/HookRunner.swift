import Foundation
import Logging

/// `--hook`: a shell command run after a sync that changed something, with the changed
/// modules in QUICK_MIRROR_MODULES.
enum HookRunner {
    static func run(_ command: String, modules: [String], logger: Logger) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.environment = ProcessInfo.processInfo.environment.merging(
            ["QUICK_MIRROR_MODULES": modules.joined(separator: " ")]) { $1 }
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw SyncError(
                "the sync succeeded, but the hook '\(command)' failed with status \(process.terminationStatus)")
        }
        logger.info("hook ran for \(modules.joined(separator: " "))")
    }
}
