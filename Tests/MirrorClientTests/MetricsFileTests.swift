import Foundation
import MirrorClient
import Testing
import TreeFixtures

#if canImport(Glibc)
    import Glibc
#endif

/// METRICSFILE, read as node_exporter's textfile collector reads it, after real runs
/// against a real rsync daemon.
@Suite("quick-mirror writes its figures for node_exporter (METRICSFILE)", .ownThread)
struct MetricsFileTests {
    static func samples(_ path: String) throws -> [String: String] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var samples: [String: String] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            if parts.count == 2 { samples[String(parts[0])] = String(parts[1]) }
        }
        return samples
    }

    @Test("files and bytes rsync transferred, deletions by module; a failed run keeps the last success time")
    func figuresOfRuns() throws {
        let master = try ReferenceMaster(directories: ["module-a"])
        let metrics = master.state.path("quickmirror.prom")
        // No extra files: what is transferred is exactly what the lists say changed.
        let config = try RunBehaviourTests.singleModule(master, extra: "METRICSFILE=\(metrics)\nEXTRAFILES=()\n")
        let first = try master.run(["-c", config])
        #expect(first.status == 0, "\(first.stderr)")
        let initial = try Self.samples(metrics)
        #expect(initial["quickmirror_last_run_success"] == "1")
        #expect(Int(initial["quickmirror_files_transferred"] ?? "") ?? 0 > 0, "\(initial)")
        #expect(initial["quickmirror_deletions{module=\"module-a\"}"] == "0")

        // Upstream: two files replaced, one added, one deleted; in a later second than the
        // first run's lists, so the new list differs in its times as well as its size.
        sleepPastNextSecond()
        let changed = [
            ("module-a/releases/40/pkg-0.rpm", "new content of pkg-0\n"),
            ("module-a/releases/41/dir1/file1", "changed\n"),
            ("module-a/releases/41/added.rpm", "a file that is new upstream\n"),
        ]
        for (path, content) in changed { try master.upstream.file(path, content) }
        try master.upstream.remove("module-a/releases/40/pkg-1.rpm")
        try master.publish()
        let started = Date().timeIntervalSince1970
        let second = try master.run(["-c", config])
        #expect(second.status == 0, "\(second.stderr)")
        master.expectMirrorEqualsMaster("after the changes", excluding: ["./fullfilelist", "./imagelist-module-a"])
        let synced = try Self.samples(metrics)
        #expect(synced["quickmirror_last_run_success"] == "1")
        #expect(synced["quickmirror_files_transferred"] == "3", "\(synced)")
        #expect(synced["quickmirror_bytes_transferred"] == String(changed.reduce(0) { $0 + $1.1.utf8.count }))
        #expect(synced["quickmirror_deletions{module=\"module-a\"}"] == "1")
        let success = try #require(synced["quickmirror_last_success_timestamp_seconds"])
        #expect(Double(success) ?? 0 >= started.rounded(.down))
        #expect(synced["quickmirror_last_run_timestamp_seconds"] == success)
        #expect(Double(synced["quickmirror_last_run_duration_seconds"] ?? "") ?? -1 >= 0)

        // Upstream is gone: the run fails, and says so without losing the last success.
        master.daemon.process.terminate()
        master.daemon.process.waitUntilExit()
        sleep(1)  // the failed run's end is a later second than the success
        let failed = try master.run(["-c", config])
        #expect(failed.status != 0)
        let after = try Self.samples(metrics)
        #expect(after["quickmirror_last_run_success"] == "0")
        #expect(after["quickmirror_last_success_timestamp_seconds"] == success, "\(after)")
        #expect(Double(after["quickmirror_last_run_timestamp_seconds"] ?? "") ?? 0 > Double(success) ?? 0)
        #expect(after["quickmirror_files_transferred"] == "3", "the last successful run's figures stay")
        #expect(after["quickmirror_deletions{module=\"module-a\"}"] == "1")
        // Replaced in one rename: no temporary file is left beside it.
        let names = try FileManager.default.contentsOfDirectory(atPath: master.state.root)
        #expect(names.filter { $0.contains("quickmirror.prom") } == ["quickmirror.prom"], "\(names)")
    }

    @Test("a METRICSFILE that cannot be written is said, naming it, and does not fail the sync")
    func unwritable() throws {
        let master = try ReferenceMaster(directories: ["module-a"])
        let metrics = master.state.path("no-such-directory/quickmirror.prom")
        let config = try RunBehaviourTests.singleModule(master, extra: "METRICSFILE=\(metrics)\n")
        let run = try master.run(["-c", config])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains(metrics), "\(run.stderr)")
        master.expectMirrorEqualsMaster("with an unwritable METRICSFILE")
    }

    @Test("rsync's --stats are read with its digit grouping; sizes rounded by -h are not guessed at")
    func statistics() {
        let text = """
            Number of files: 1,234 (reg: 1,000, dir: 234)
            Number of regular files transferred: 1,002
            Total file size: 9,876,543 bytes
            Total transferred file size: 12,345,678 bytes
            Literal data: 12,345,678 bytes
            """
        #expect(TransferStatistics(rsyncOutput: text) == TransferStatistics(files: 1002, bytes: 12_345_678))
        let rounded = text.replacingOccurrences(of: "12,345,678 bytes", with: "12.35M bytes")
        #expect(TransferStatistics(rsyncOutput: rounded) == nil)
        #expect(TransferStatistics(rsyncOutput: "rsync error: timeout in data send/receive") == nil)
    }
}
