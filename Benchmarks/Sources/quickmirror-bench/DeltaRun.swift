import ArgumentParser
import BenchSupport
import Crypto
import FileList
import Foundation

/// What `/changes` saves a downstream mirror: the delta between two big lists, how long
/// the server takes to make it and the client to apply and check it, against the
/// whole list.
struct DeltaRun: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delta")

    @Option(help: "Entries in the lists.") var entries = 1_000_000
    @Option(help: "Entries changed between the old and the new list.") var changed = 1000
    @Option(help: "Where generated lists are kept.") var cache = "/var/tmp/quickmirror-bench"
    @Option(help: "Runs of each step.") var runs = 5

    func run() throws {
        let (oldPath, newPath) = try PlanRun.cachedLists(entries: entries, changed: changed, cache: cache)
        let old = Array(try Data(contentsOf: URL(fileURLWithPath: oldPath)))
        let new = Array(try Data(contentsOf: URL(fileURLWithPath: newPath)))
        func hex(_ bytes: [UInt8]) -> String { SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined() }

        var hashing: [Double] = []
        var making: [Double] = []
        var applying: [Double] = []
        var delta: FileListDelta?
        for _ in 0..<runs {
            var start = ContinuousClock.now
            let base = hex(old)
            let result = hex(new)
            hashing.append(seconds(since: start) / 2)
            start = ContinuousClock.now
            delta = try FileListDelta.make(from: old, to: new, base: base, result: result)
            making.append(seconds(since: start))
            let encoded = delta!.encoded()
            start = ContinuousClock.now
            let rebuilt = try FileListDelta(decoding: encoded, source: "bench").applied(to: old)
            guard hex(rebuilt) == result else { throw ValidationError("the rebuilt list differs") }
            applying.append(seconds(since: start))
        }
        let encoded = delta!.encoded()
        print("lists of \(entries) entries (\(new.count / 1_000_000) MB), \(changed) changed; median of \(runs)\n")
        print("| step | time |")
        print("| --- | --- |")
        print(String(format: "| server: SHA-256 of the new list (its ETag) | %.3f s |", median(hashing)))
        print(String(format: "| server: delta from the previous list (one merge walk) | %.3f s |", median(making)))
        print(
            String(format: "| client: decode, apply to the installed list, SHA-256 check | %.3f s |", median(applying)))
        print(
            "\nthe delta: \(delta!.editCount) edits, \(encoded.count) bytes (\(String(format: "%.2f", Double(encoded.count) / 1000)) kB)"
                + ", the whole list: \(new.count) bytes; \(new.count / max(encoded.count, 1))x less to transfer")
    }
}
