import ArgumentParser
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
        var results = Array(repeating: [Measurement](), count: commands.count)
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

    /// The tree for (files, seed), generated once and reused: creating a million files
    /// takes minutes.
    private func cachedTree() throws -> String {
        let tree = "\(cache)/tree-\(files)-\(seed)"
        let marker = "\(tree).complete"
        if FileManager.default.fileExists(atPath: marker) { return tree }
        try? FileManager.default.removeItem(atPath: tree)
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        FileHandle.standardError.write(Data("generating \(files) entries under \(tree)...\n".utf8))
        let start = Date()
        let counts = try MirrorTreeGenerator(entries: files, seed: seed).generate(at: tree)
        let json = try JSONEncoder().encode(counts)
        try json.write(to: URL(fileURLWithPath: marker))
        FileHandle.standardError.write(
            Data(
                "generated in \(Int(Date().timeIntervalSince(start))) s: \(String(decoding: json, as: UTF8.self))\n"
                    .utf8))
        return tree
    }

    private func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.count % 2 == 1
            ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }
}
