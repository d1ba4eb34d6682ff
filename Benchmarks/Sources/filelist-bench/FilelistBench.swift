import ArgumentParser
import BenchSupport
import TreeFixtures
import Foundation

@main
struct FilelistBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "filelist-bench",
        abstract: "Measure create-filelist against find on a generated Fedora-like tree.",
        discussion: """
            Generates the tree once (cached under --cache, keyed by size and seed), warms the \
            page cache, then runs each command --runs times in turn and prints a Markdown table \
            of the median wall time, the ratio to find, and peak RSS.
            """)

    @Option(help: "Entries in the generated tree.") var files = 200_000
    @Option(help: "Seed of the generated tree.") var seed: UInt64 = 1
    @Option(help: "Where generated trees are kept between runs.") var cache = "/var/tmp/quickmirror-bench"
    @Option(help: "Runs of each command.") var runs = 5
    @Option(help: "The create-filelist binary to measure.") var tool = "../.build/release/create-filelist"

    func run() throws {
        let tool = URL(fileURLWithPath: self.tool).standardizedFileURL.path
        guard FileManager.default.isExecutableFile(atPath: tool) else {
            throw ValidationError("no create-filelist at \(tool): build it with 'swift build -c release' first")
        }
        let tree = try cachedTree()
        let list = "\(cache)/fullfiletimelist-\(files)-\(seed)"
        let find = ["find", tree, "-printf", "%T@\t%y\t%s\t%P\n"]
        // Each command is compared with the find run that does the same kind of output.
        let commands: [(name: String, arguments: [String], stdout: String, baseline: Int)] = [
            ("find -printf > /dev/null", find, "/dev/null", 0),
            ("find -printf > FILE", find, "\(cache)/find-output", 1),
            ("create-filelist > /dev/null", [tool, "-d", tree], "/dev/null", 0),
            ("create-filelist -c -t FILE", [tool, "-d", tree, "-c", "-t", list], "/dev/null", 1),
        ]
        // Warm the dentry and inode caches: the benchmark measures the walk, not the disk.
        _ = try measure(find)
        var results = Array(repeating: [RunMeasurement](), count: commands.count)
        for _ in 0..<runs {
            for (index, command) in commands.enumerated() {
                let result = try measure(command.arguments, stdout: command.stdout)
                guard result.status == 0 else {
                    throw ValidationError("\(command.name) failed: status \(result.status)")
                }
                results[index].append(result)
            }
        }
        let text = try String(contentsOfFile: list, encoding: .utf8)
        let filesSection = text.components(separatedBy: "[Files]\n")[1].components(separatedBy: "\n\n")[0]
        let lines = filesSection.split(separator: "\n").count
        let listBytes = (try FileManager.default.attributesOfItem(atPath: list)[.size] as? Int) ?? 0
        print("tree: \(tree), \(lines) entries listed, list of \(listBytes / 1_000_000) MB")
        print(
            "machine: \(ProcessInfo.processInfo.activeProcessorCount) cores, \(ProcessInfo.processInfo.physicalMemory >> 30) GiB; \(runs) runs each, median (min-max)\n"
        )
        print("| command | wall | faster than | peak RSS |")
        print("| --- | --- | --- | --- |")
        for (index, command) in commands.enumerated() {
            let seconds = results[index].map(\.seconds)
            let wall = String(format: "%.2f s (%.2f-%.2f)", median(seconds), seconds.min()!, seconds.max()!)
            let baseline = median(results[command.baseline].map(\.seconds))
            let ratio =
                command.baseline == index
                ? "-" : String(format: "%.2fx `%@`", baseline / median(seconds), commands[command.baseline].name)
            let rss = String(format: "%.0f MB", Double(results[index].map(\.peakRSSBytes).max()!) / 1e6)
            print("| `\(command.name)` | \(wall) | \(ratio) | \(rss) |")
        }
    }

    private func cachedTree() throws -> String {
        try MirrorTreeGenerator.cachedTree(entries: files, seed: seed, cache: cache)
    }
}
