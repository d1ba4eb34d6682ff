import ArgumentParser
import FileList
import Foundation
import Logging
import Synchronization
import UpstreamListing

#if canImport(Glibc)
    import Glibc
#endif

/// mirror-cache's view of a big upstream list, served by nginx: what holding it costs
/// (the structures' own count, and the process's anonymous memory), how fast `listed`
/// answers (called on every request), and how long a new version takes from the web
/// server to a generation.
struct ListingRun: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "listing")

    @Option(help: "Entries in the list.") var entries = 1_000_000
    @Option(help: "Entries changed in the second version.") var changed = 1000
    @Option(help: "Where generated lists are kept.") var cache = "/var/tmp/quickmirror-bench"

    func run() throws {
        let (old, new) = try PlanRun.cachedLists(entries: entries, changed: changed, cache: cache)
        let scratch = "\(cache)/listing-run-\(getpid())"
        let www = "\(scratch)/www"
        try FileManager.default.createDirectory(atPath: www, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        try FileManager.default.copyItem(atPath: old, toPath: "\(www)/fullfiletimelist")
        let (nginx, port) = try startNginx(serving: www, scratch: scratch)
        defer { stop(nginx) }

        var logger = Logger(label: "listing-bench")
        logger.logLevel = .warning
        let anonymousBefore = residentBytes(field: "RssAnon")
        let listing = try UpstreamListing(
            listServer: "http://127.0.0.1:\(port)", lists: ["fullfiletimelist"], pollInterval: .milliseconds(100),
            logger: logger)
        let generation = Mutex<(ListGeneration, ContinuousClock.Instant)?>(nil)
        let loadStart = ContinuousClock.now
        let runner = Task { try await listing.run() }
        let collector = Task {
            for await next in listing.generations {
                generation.withLock { $0 = (next, .now) }
                break
            }
        }
        defer {
            runner.cancel()
            collector.cancel()
        }
        while listing.footprint.entries < entries {
            guard seconds(since: loadStart) < 300 else { throw ValidationError("the list was not loaded in 300 s") }
            usleep(10_000)
        }
        let loadSeconds = seconds(since: loadStart)
        let anonymous = residentBytes(field: "RssAnon") - anonymousBefore
        let held = listing.footprint.bytes
        let listBytes = (try FileManager.default.attributesOfItem(atPath: old)[.size] as? Int) ?? 0

        // Every path of the list, asked as a request would ask for it.
        let list = try FileListReader.parse(Array(try Data(contentsOf: URL(fileURLWithPath: old))))
        let paths = list.entries.map(\.displayPath)
        let files = list.entries.filter { $0.type.kind == .file }.count
        let lookupStart = ContinuousClock.now
        var found = 0
        for path in paths where listing.listed(path) != nil { found += 1 }
        let lookupSeconds = seconds(since: lookupStart)
        guard found == files else { throw ValidationError("listed found \(found) of \(files) files") }

        // The second version under the served name, with a later time (nginx's ETag).
        let staged = "\(www)/.fullfiletimelist.new"
        try FileManager.default.copyItem(atPath: new, toPath: staged)
        var times = [timespec(tv_sec: time(nil) + 10, tv_nsec: 0), timespec(tv_sec: time(nil) + 10, tv_nsec: 0)]
        utimensat(AT_FDCWD, staged, &times, 0)
        let published = ContinuousClock.now
        guard rename(staged, "\(www)/fullfiletimelist") == 0 else { throw ValidationError("cannot rename \(staged)") }
        var delivered: (ListGeneration, ContinuousClock.Instant)?
        while delivered == nil {
            guard seconds(since: published) < 300 else { throw ValidationError("no generation in 300 s") }
            usleep(1000)
            delivered = generation.withLock { $0 }
        }
        let (next, at) = delivered!
        let generationSeconds =
            Double((at - published).components.attoseconds) / 1e18
            + Double((at - published).components.seconds)

        print("a list of \(entries) entries (\(files) files, \(listBytes / 1_000_000) MB) served by nginx\n")
        print("| what | figure |")
        print("| --- | --- |")
        print(String(format: "| first load (GET, validate, index) | %.2f s |", loadSeconds))
        print(
            String(
                format: "| held by the listing (bytes, records, table) | %.0f bytes/entry |",
                Double(held) / Double(entries)))
        print(
            String(
                format: "| process anonymous memory grown by the load | %.0f bytes/entry |",
                Double(anonymous) / Double(entries)))
        print(String(format: "| `listed` of every path | %.0f ns each |", lookupSeconds * 1e9 / Double(paths.count)))
        print(
            String(
                format:
                    "| new version (%d lines changed) to generation, poll 0.1 s | %.2f s (%d changed, %d removed) |",
                changed, generationSeconds, next.changed.count, next.removed.count))
    }
}
