import ArgumentParser
import CommandLineSupport
import FileList
import Foundation
import Publish
import SystemPackage
import TreeScan

@main
struct CreateFilelist: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create-filelist",
        abstract: "Generate the fullfiletimelist of a mirror tree: one line per entry (time, type, size, path).",
        discussion: """
            A drop-in replacement for Fedora's create-filelist, with the same options and output: \
            entries that are not group-readable, dangling symlinks, '.~tmp~' and '.nfs*' are left out; \
            '-' marks entries that are not world-readable and '*' entries below a directory that is not. \
            Entries are listed directory by directory in name-byte order, so a tree always gives the same bytes.

            Files named with -t, -f and -i are replaced atomically (temporary file, fsync, rename): \
            a reader never sees a partial list, and a failed run leaves the old list in place.
            """)

    @Option(name: [.customShort("d"), .customLong("dir")], help: "The directory to list.")
    var dir: String = "."

    @Option(
        name: [.customShort("t"), .customLong("timelist")],
        help: ArgumentHelp("Write the time list here ('-' for standard output).", valueName: "file"))
    var timeList: String = "-"

    @Option(
        name: [.customShort("f"), .customLong("filelist")],
        help: ArgumentHelp("Also write a plain list of './'-prefixed paths here.", valueName: "file"))
    var pathList: String?

    @Option(
        name: [.customShort("i"), .customLong("imagelist")],
        help: ArgumentHelp("Also write the paths of image files (iso, qcow2, raw.xz, ...) here.", valueName: "file"))
    var imageList: String?

    @OptionGroup var scan: ScanFlags

    @Flag(
        name: [.customShort("s"), .customLong("skip")],
        help: "Leave the output lists themselves out of the top directory.")
    var skipOutputs = false

    @Option(name: .customLong("list-version"), help: "The number written under [Version]: 2 (the reference's) or 3.")
    var listVersion: Int = FileListFormat.defaultVersion

    @Flag(
        name: .customLong("if-changed"),
        help: "Leave an output file untouched (same inode and mtime) when its content would not change.")
    var ifChanged = false

    @Option(name: .customLong("jobs"), help: "Threads walking the tree (default: one per core).")
    var jobs: Int = ScanOptions.defaultWorkers

    @Flag(name: [.customShort("v"), .customLong("verbose")], help: "Print a summary line on standard error.")
    var verbose = false

    func validate() throws {
        guard (2...FileListFormat.highestVersion).contains(listVersion) else {
            throw ValidationError("--list-version must be 2 or 3, not \(listVersion)")
        }
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
    }

    func run() throws {
        let started = ContinuousClock.now
        let outputs = try Outputs(timeList: timeList, pathList: pathList, imageList: imageList)
        let generator = FileListGenerator(options: scanOptions(), version: listVersion)
        let summary: GenerationSummary
        do {
            summary = try generator.generate(
                root: dir,
                timeList: outputs.time.write,
                pathList: outputs.paths?.write,
                imageList: outputs.images?.write,
                warn: { warning in Diagnostics.print("warning: \(warning)") })
        } catch {
            outputs.discard()
            throw Failure("\(error)")
        }
        let outcomes = try outputs.commit(ifChanged: ifChanged)
        if verbose {
            let elapsed = (ContinuousClock.now - started).components
            let seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
            let written = outcomes.map { "; \($0.path): \($0.outcome == .replaced ? "written" : "unchanged")" }
            Diagnostics.print(
                "listed \(summary.entries) entries in \(summary.directories) directories, "
                    + "\(summary.checksums.count) checksummed, in \(String(format: "%.2f", seconds)) s"
                    + written.joined())
        }
    }

    private func scanOptions() -> ScanOptions {
        var options = scan.choices.applied()
        if skipOutputs {
            for output in [timeList, pathList, imageList].compactMap({ $0 }) where output != "-" {
                let name = String(output.split(separator: "/").last ?? Substring(output))
                options.topLevelSkips.insert(Array(name.utf8))
                options.topLevelSkipPrefixes.append(Array(AtomicFile.temporaryNamePrefix(for: name).utf8))
            }
        }
        options.workers = jobs
        return options
    }

    static func main() { mainWithOneLineErrors() }
}

typealias Failure = CommandFailure

enum Diagnostics {
    static func print(_ message: String) {
        let line = Array("create-filelist: \(message)\n".utf8)
        _ = try? line.withUnsafeBytes { try FileDescriptor.standardError.writeAll($0) }
    }
}
