import ArgumentParser
import BenchSupport
import TreeFixtures
import FileList
import Foundation
import MirrorClient

/// Planning a sync from a big list: read the new list strictly, compare the old one
/// with it, and build the transfer and deletion sets. Each run is a separate process,
/// so its peak RSS is its own; `LC_ALL=C sort` of the new list runs beside it for scale.
struct PlanRun: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "plan")

    @Option(help: "Entries in the lists.") var entries = 1_000_000
    @Option(help: "Entries changed between the old and the new list.") var changed = 1000
    @Option(help: "Where generated lists are kept.") var cache = "/var/tmp/quickmirror-bench"
    @Option(help: "Runs of each command.") var runs = 5

    func run() throws {
        let (old, new) = try Self.cachedLists(entries: entries, changed: changed, cache: cache)
        let me = CommandLine.arguments[0]
        var plan: [RunMeasurement] = []
        var sort: [RunMeasurement] = []
        for _ in 0..<runs {
            plan.append(try measure([me, "plan-once", old, new]))
            sort.append(try measure(["env", "LC_ALL=C", "sort", new]))
        }
        print("lists of \(entries) entries, \(changed) changed; \(runs) runs each, median (min-max)\n")
        print("| command | wall | peak RSS |")
        print("| --- | --- | --- |")
        for (name, results) in [
            ("quick-mirror planning (read the new list, compare the old one, plan)", plan),
            ("`LC_ALL=C sort` of the new list", sort),
        ] {
            let seconds = results.map(\.seconds)
            print(
                String(
                    format: "| %@ | %.2f s (%.2f-%.2f) | %.0f MB |", name, median(seconds), seconds.min()!,
                    seconds.max()!,
                    Double(results.map(\.peakRSSBytes).max()!) / 1e6))
        }
    }

    /// The old and the new list (generated once, then kept in `cache`): also the delta
    /// benchmark's input.
    static func cachedLists(entries: Int, changed: Int, cache: String) throws -> (old: String, new: String) {
        let old = "\(cache)/plan2-old-\(entries)"
        let new = "\(cache)/plan2-new-\(entries)-\(changed)"
        if !FileManager.default.fileExists(atPath: new) {
            try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
            try generate(entries: entries, changed: changed, old: old, new: new)
        }
        return (old, new)
    }

    static func generate(entries: Int, changed: Int, old: String, new: String) throws {
        var random = SeededRandom(seed: 3)
        var list: [FileListEntry] = []
        list.reserveCapacity(entries)
        var index = 0
        while list.count < entries {
            // Every path once, as in a real list: 36 x 100 leaf directories per release.
            let directory =
                "linux/releases/\(30 + index / 3600)/Everything/x86_64/os/Packages/\(index % 36)/\(index / 36 % 100)"
            list.append(FileListEntry(time: 1_700_000_000, type: EntryType(.directory), size: 4096, path: directory))
            for file in 0..<Int(random.next() % 181 + 20) where list.count < entries {
                list.append(
                    FileListEntry(
                        time: 1_700_000_000 + Int64(random.next() % 10_000_000), type: EntryType(.file),
                        size: Int64(random.next() % 50_000_000),
                        path: "\(directory)/package-\(file)-\(random.next() % 100).fc40.x86_64.rpm"))
            }
            index += 1
        }
        // filelistd's order (directories in pre-order, names sorted), so that the delta
        // benchmark can diff these lists too.
        list.sort { FileListOrder.inOrder($0.path, $1.path) }
        try Data(FileListFormat.render(entries: list)).write(to: URL(fileURLWithPath: old))
        for _ in 0..<changed {
            let victim = Int(random.next() % UInt64(list.count))
            list[victim].time += 86_400
        }
        try Data(FileListFormat.render(entries: list)).write(to: URL(fileURLWithPath: new))
    }
}

/// One planning run, measured from outside by `plan`.
struct PlanOnce: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "plan-once", shouldDisplay: false)
    @Argument var old: String
    @Argument var new: String

    func run() throws {
        // As the client does: the new list read strictly, the old one walked in step with it.
        let lists = try ListPair.read(
            module: "m", directory: "m", new: try ListFile.read(new), source: new, oldFile: old)
        let plan = TransferPlanner().plan([lists])
        guard plan.transfers.count > 0 else { throw ValidationError("no transfers planned") }
        FileHandle.standardError.write(
            Data("\(plan.transfers.count) transfers, \(plan.deletions.count) deletions\n".utf8))
    }
}
