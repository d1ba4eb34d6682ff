import FileList
import Foundation
import TreeScan

/// The `--config` file: a top directory and its modules, plus the list options.
///
/// ```
/// # /etc/filelistd/pub.conf
/// top = /srv/pub
/// modules = fedora epel alt archive
/// linked = fedora alt archive     # share hard links: lists replaced together (repeatable)
/// checksum = yes                  # -c: checksums of repomd.xml
/// checksum-file = CHECKSUM        # -C, repeatable
/// skip-file = .snapshot           # -S, in each module's top directory, repeatable
/// checksum-algorithms = sha1
/// list-version = 2
/// events = auto
/// settle = 2
/// max-delay = 60
/// audit-interval = 86400
/// fullfilelist = yes              # MODULE/fullfilelist (create-filelist -f), as Fedora publishes
/// imagelist = yes                 # MODULE/imagelist-MODULE (create-filelist -i)
/// ```
///
/// One `key = value` per line; `#` starts a comment. Nothing is executed.
public enum ConfigFile {
    /// The longest time a setting may name: a year.
    public static let maxSeconds: Double = 366 * 86400

    public static func load(path: String, runtimeDirectory: String) throws(DaemonError) -> DaemonConfiguration {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw DaemonError("cannot read config '\(path)': \(error.localizedDescription)")
        }
        return try parse(text, path: path, runtimeDirectory: runtimeDirectory)
    }

    public static func parse(_ text: String, path: String, runtimeDirectory: String) throws(DaemonError)
        -> DaemonConfiguration
    {
        var values: [(line: Int, key: String, value: String)] = []
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            guard let equals = trimmed.firstIndex(of: "=") else {
                throw DaemonError("\(path): line \(number + 1): expected 'key = value', found '\(trimmed)'")
            }
            values.append(
                (
                    number + 1, trimmed[..<equals].trimmingCharacters(in: .whitespaces),
                    trimmed[trimmed.index(after: equals)...].trimmingCharacters(in: .whitespaces)
                ))
        }
        func fail(_ line: Int, _ message: String) -> DaemonError { DaemonError("\(path): line \(line): \(message)") }
        func seconds(_ line: Int, _ value: String) throws(DaemonError) -> Duration {
            // Bounded: `1e300` or `inf` would trap converting to milliseconds (Fuzz/).
            guard let number = Double(value), number >= 0, number <= ConfigFile.maxSeconds else {
                throw fail(line, "'\(value)' is not a number of seconds from 0 to \(Int(ConfigFile.maxSeconds))")
            }
            return .milliseconds(Int64(number * 1000))
        }

        func yesOrNo(_ line: Int, _ key: String, _ value: String) throws(DaemonError) -> Bool {
            switch value {
            case "yes", "true", "1": return true
            case "no", "false", "0": return false
            default: throw fail(line, "\(key) must be yes or no, not '\(value)'")
            }
        }

        guard let top = values.last(where: { $0.key == "top" }) else {
            throw DaemonError("\(path): no 'top = DIR' line")
        }
        var configuration = DaemonConfiguration(root: top.value)
        configuration.runtimeDirectory = runtimeDirectory
        var scan = ScanChoices()
        for (line, key, value) in values {
            switch key {
            case "top":
                guard value.hasPrefix("/") else { throw fail(line, "top must be an absolute path") }
            case "modules":
                configuration.modules += value.split(separator: " ").map(String.init)
            case "linked":
                configuration.linkedGroups.append(value.split(separator: " ").map(String.init))
            case "checksum":
                if ["yes", "true", "1"].contains(value) { scan.checksumRepomd = true }
            case "checksum-file":
                scan.checksumNames.append(value)
            case "skip-file":
                scan.skipNames.append(value)
            case "checksum-algorithms":
                switch ChecksumAlgorithm.parseList(value) {
                case .success(let algorithms): scan.algorithms = algorithms
                case .failure(let error): throw fail(line, "\(error)")
                }
            case "list-version":
                guard let version = Int(value), (2...3).contains(version) else {
                    throw fail(line, "list-version must be 2 or 3")
                }
                configuration.version = version
            case "events":
                guard let events = EventBackend(rawValue: value) else {
                    throw fail(line, "events must be auto, fanotify or inotify")
                }
                configuration.events = events
            case "settle": configuration.settle = try seconds(line, value)
            case "max-delay": configuration.maxDelay = try seconds(line, value)
            case "audit-interval": configuration.auditInterval = try seconds(line, value)
            case "fullfilelist": configuration.moduleFullFileList = try yesOrNo(line, key, value)
            case "imagelist": configuration.moduleImageList = try yesOrNo(line, key, value)
            default:
                throw fail(line, "unknown key '\(key)'")
            }
        }
        configuration.options = scan.applied()
        guard !configuration.modules.isEmpty else { throw DaemonError("\(path): no 'modules = ...' line") }
        for group in configuration.linkedGroups {
            for module in group where !configuration.modules.contains(module) {
                throw DaemonError("\(path): linked module '\(module)' is not in modules")
            }
        }
        return configuration
    }
}
