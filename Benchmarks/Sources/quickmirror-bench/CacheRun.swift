import ArgumentParser
import BenchSupport
import Foundation
import TreeFixtures

#if canImport(Glibc)
    import Glibc
#endif

/// mirror-cache beside nginx, in one run, on the same files: nginx serves them from
/// disk and is also the upstream the cache fetches from. A miss (the cache fetching a
/// 1 GB file while it streams it) is compared with a direct download from that
/// upstream, and with the same download written to a file by curl (what keeping the
/// bytes costs, whoever keeps them); hits of the same file (throughput) and of many
/// small files (requests per second) with nginx serving them.
struct CacheRun: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cache")

    @Option(help: "The mirror-cache binary.") var tool = "../.build/release/mirror-cache"
    @Option(help: "The nio-floor binary (this package): NIO's HTTP/1 server reading the files, nothing else.")
    var floor = ".build/release/nio-floor"
    @Option(help: "The relay-floor binary (this package): a C relay, the floor under a miss.")
    var relay = ".build/release/relay-floor"
    @Option(help: "The rate of the throttled upstream (an upstream across a network), in MB/s.")
    var throttledRate = 200
    @Option(help: "Size of the big file, in MiB.") var bigMegabytes = 1024
    @Option(help: "Number of small files.") var smallFiles = 10_000
    @Option(help: "Size of each small file, in bytes.") var smallSize = 16_384
    @Option(help: "Where the generated files are kept between runs.") var files =
        "/var/tmp/quickmirror-bench/cache-files"
    @Option(help: "Where scratch files go (a cache directory, logs).") var scratchRoot = "/var/tmp/quickmirror-bench"
    @Option(help: "Downloads of the big file per server (the median is reported).") var repeats = 3
    @Option(help: "wrk threads.") var threads = 2
    @Option(help: "wrk connections for small files.") var connections = 64
    @Option(help: "wrk connections for the big file.") var bigConnections = 4
    @Option(help: "Seconds per wrk run.") var duration = 10

    func run() throws {
        try makeFiles()
        let scratch = "\(scratchRoot)/cache-run-\(getpid())"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }

        let (nginx, nginxPort) = try startNginx(serving: files, scratch: scratch)
        defer { stop(nginx) }
        let upstream = "http://127.0.0.1:\(nginxPort)"
        let bigPath = "/big/file.iso"

        // Misses: each download through a cache that has never seen the file. Beside them,
        // the same download through nginx's own cache (a new key each time, so a miss),
        // and through a C relay that stores the body or only forwards it.
        let (nginxCache, nginxCachePort) = try startNginxCache(upstreamPort: nginxPort, scratch: scratch)
        defer { stop(nginxCache) }
        let storePort = try freePort()
        let forwardPort = try freePort()
        let relays = [
            try start(relay, ["store", "\(storePort)", "\(nginxPort)", scratch], log: "\(scratch)/relay-store.log"),
            try start(
                relay, ["forward", "\(forwardPort)", "\(nginxPort)", scratch], log: "\(scratch)/relay-forward.log"),
        ]
        defer { relays.forEach(stop) }
        var direct: [Double] = []
        var stored: [Double] = []
        var missed: [Double] = []
        var nginxMissed: [Double] = []
        var relayStored: [Double] = []
        var relayForwarded: [Double] = []
        for trial in 0..<repeats {
            direct.append(try downloadSpeed(upstream + bigPath))
            nginxMissed.append(try downloadSpeed("http://127.0.0.1:\(nginxCachePort)\(bigPath)?trial=\(trial)"))
            relayStored.append(try downloadSpeed("http://127.0.0.1:\(storePort)\(bigPath)"))
            relayForwarded.append(try downloadSpeed("http://127.0.0.1:\(forwardPort)\(bigPath)"))
            // What keeping the bytes costs on this machine, whoever keeps them: curl
            // writing the download to a file on the cache's file system.
            let copy = "\(scratch)/stored-\(trial)"
            stored.append(try downloadSpeed(upstream + bigPath, to: copy))
            try? FileManager.default.removeItem(atPath: copy)
            let (cache, port) = try startCache(upstream: upstream, scratch: scratch, name: "miss-\(trial)")
            missed.append(try downloadSpeed("http://127.0.0.1:\(port)\(bigPath)"))
            stop(cache)
            try? FileManager.default.removeItem(atPath: "\(scratch)/miss-\(trial)")
        }

        // A miss from an upstream as fast as a good network: the cache must not be what
        // limits the client.
        let (throttled, throttledPort) = try startThrottledNginx(
            serving: files, bytesPerSecond: throttledRate * 1_000_000, scratch: scratch)
        defer { stop(throttled) }
        var throttledDirect: [Double] = []
        var throttledMissed: [Double] = []
        for trial in 0..<repeats {
            throttledDirect.append(try downloadSpeed("http://127.0.0.1:\(throttledPort)\(bigPath)"))
            let name = "throttled-miss-\(trial)"
            let (cache, port) = try startCache(
                upstream: "http://127.0.0.1:\(throttledPort)", scratch: scratch, name: name)
            throttledMissed.append(try downloadSpeed("http://127.0.0.1:\(port)\(bigPath)"))
            stop(cache)
            try? FileManager.default.removeItem(atPath: "\(scratch)/\(name)")
        }

        // Hits: a cache that holds every file.
        let (cache, port) = try startCache(upstream: upstream, scratch: scratch, name: "hits")
        defer { stop(cache) }
        let ours = "http://127.0.0.1:\(port)"
        _ = try downloadSpeed(ours + bigPath)
        try warm(ours, scratch: scratch)
        // The warm-up's copies are made durable after their clients have them: thousands
        // of fsyncs, which would otherwise run during the hit runs.
        try waitForEmpty("\(scratch)/hits/.partial")
        let misses = try metric("mirror_cache_misses_total", at: ours)

        var nginxBig: [Double] = []
        var oursBig: [Double] = []
        for _ in 0..<repeats {
            nginxBig.append(try downloadSpeed(upstream + bigPath))
            oursBig.append(try downloadSpeed(ours + bigPath))
        }
        let script = "\(scratch)/small.lua"
        try smallScript().write(toFile: script, atomically: true, encoding: .utf8)
        let nginxBigWrk = try wrk(
            upstream + bigPath, threads: threads, connections: bigConnections, duration: duration)
        let oursBigWrk = try wrk(ours + bigPath, threads: threads, connections: bigConnections, duration: duration)
        let nginxSmall = try wrk(
            upstream + "/", script: script, threads: threads, connections: connections, duration: duration)
        let oursSmall = try wrk(
            ours + "/", script: script, threads: threads, connections: connections, duration: duration)
        // What the same stack costs with nothing of the cache's own work: the files read
        // the way a small hit reads them.
        let floorPort = try freePort()
        let floorServer = try start(floor, ["\(floorPort)", files], log: "\(scratch)/nio-floor.log")
        defer { stop(floorServer) }
        try waitForHTTP("http://127.0.0.1:\(floorPort)/small/00/\(smallName(0))")
        let floorSmall = try wrk(
            "http://127.0.0.1:\(floorPort)/", script: script, threads: threads, connections: connections,
            duration: duration)
        // Every request of the hit runs must have been a hit: no new miss.
        let missesAfter = try metric("mirror_cache_misses_total", at: ours)

        print(
            "\(bigMegabytes) MiB file and \(smallFiles) files of \(smallSize) bytes in \(files); nginx on 127.0.0.1 is the upstream and the yardstick; \(ProcessInfo.processInfo.activeProcessorCount) cores\n"
        )
        print("| what | nginx | mirror-cache | mirror-cache / nginx |")
        print("| --- | --- | --- | --- |")
        func mb(_ bytesPerSecond: Double) -> String { String(format: "%.0f MB/s", bytesPerSecond / 1e6) }
        func ratio(_ ours: Double, _ theirs: Double) -> String { String(format: "%.0f%%", 100 * ours / theirs) }
        print(
            "| miss: the big file, one download (median of \(repeats)); nginx column: straight from the upstream | \(mb(median(direct))) | \(mb(median(missed))) | \(ratio(median(missed), median(direct))) |"
        )
        print(
            "| miss, against the same download stored to a file (curl -o, median of \(repeats)) | \(mb(median(stored))) | \(mb(median(missed))) | \(ratio(median(missed), median(stored))) |"
        )
        print(
            "| miss, against nginx's own cache missing (`proxy_cache`, median of \(repeats)) | \(mb(median(nginxMissed))) | \(mb(median(missed))) | \(ratio(median(missed), median(nginxMissed))) |"
        )
        print(
            "| the floor for a miss: relay-floor (C: recv, pwrite, send) against the direct download | \(mb(median(direct))) | \(mb(median(relayStored))) | \(ratio(median(relayStored), median(direct))) |"
        )
        print(
            "| the floor for any relay: relay-floor storing nothing (C: recv, send) against the direct download | \(mb(median(direct))) | \(mb(median(relayForwarded))) | \(ratio(median(relayForwarded), median(direct))) |"
        )
        print(
            "| miss from an upstream limited to \(throttledRate) MB/s (nginx `limit_rate`), one download (median of \(repeats)); nginx column: straight from it | \(mb(median(throttledDirect))) | \(mb(median(throttledMissed))) | \(ratio(median(throttledMissed), median(throttledDirect))) |"
        )
        print(
            "| hit: the big file, one download (median of \(repeats)) | \(mb(median(nginxBig))) | \(mb(median(oursBig))) | \(ratio(median(oursBig), median(nginxBig))) |"
        )
        print(
            "| hit: the big file, wrk -t\(threads) -c\(bigConnections) -d\(duration)s | \(mb(nginxBigWrk.bytesPerSecond)) | \(mb(oursBigWrk.bytesPerSecond)) | \(ratio(oursBigWrk.bytesPerSecond, nginxBigWrk.bytesPerSecond)) |"
        )
        print(
            String(
                format:
                    "| hit: small files, wrk -t%d -c%d -d%ds (requests/s, mean latency) | %.0f, %.2f ms | %.0f, %.2f ms | %@ |",
                threads, connections, duration, nginxSmall.rate, nginxSmall.latencyMilliseconds, oursSmall.rate,
                oursSmall.latencyMilliseconds, ratio(oursSmall.rate, nginxSmall.rate)))
        print(
            String(
                format:
                    "| the floor: nio-floor (NIO's HTTP/1 server reading the same small files, nothing else) | %.0f, %.2f ms | %.0f, %.2f ms | %@ |",
                nginxSmall.rate, nginxSmall.latencyMilliseconds, floorSmall.rate, floorSmall.latencyMilliseconds,
                ratio(floorSmall.rate, nginxSmall.rate)))
        print("\nmisses counted by mirror-cache during the hit runs: \(Int(missesAfter - misses))")
    }

    /// The files, made once: the big one from a seeded generator (incompressible, not
    /// sparse), the small ones spread over 100 directories.
    func makeFiles() throws {
        let marker = "\(files)/.made-\(bigMegabytes)-\(smallFiles)-\(smallSize)"
        if FileManager.default.fileExists(atPath: marker) { return }
        try? FileManager.default.removeItem(atPath: files)
        try FileManager.default.createDirectory(atPath: "\(files)/big", withIntermediateDirectories: true)
        var random = SeededRandom(seed: 7)
        let chunk = 1 << 20
        let big = FileHandle(
            forWritingAtPath: {
                FileManager.default.createFile(atPath: "\(files)/big/file.iso", contents: nil)
                return "\(files)/big/file.iso"
            }())!
        for _ in 0..<bigMegabytes {
            var bytes = [UInt8](repeating: 0, count: chunk)
            bytes.withUnsafeMutableBytes { raw in
                let words = raw.bindMemory(to: UInt64.self)
                for index in words.indices { words[index] = random.next() }
            }
            big.write(Data(bytes))
        }
        try big.close()
        for index in 0..<smallFiles {
            let directory = "\(files)/small/\(String(format: "%02d", index % 100))"
            if index < 100 {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
            var bytes = [UInt8](repeating: 0, count: smallSize)
            for offset in stride(from: 0, to: smallSize, by: 8) {
                let word = random.next()
                for shift in 0..<min(8, smallSize - offset) {
                    bytes[offset + shift] = UInt8(truncatingIfNeeded: word >> (8 * shift))
                }
            }
            FileManager.default.createFile(atPath: "\(directory)/\(smallName(index))", contents: Data(bytes))
        }
        FileManager.default.createFile(atPath: marker, contents: nil)
    }

    func smallName(_ index: Int) -> String { String(format: "file-%05d.rpm", index) }

    /// Each request names the next small file, so every request of a run is another file.
    func smallScript() -> String {
        """
        local n = 0
        request = function()
            n = n + 1
            local i = n % \(smallFiles)
            return wrk.format("GET", string.format("/small/%02d/file-%05d.rpm", i % 100, i))
        end

        """
    }

    func startCache(upstream: String, scratch: String, name: String) throws -> (Process, Int) {
        let port = try freePort()
        let cache = try start(
            tool,
            ["--upstream", upstream, "--cache", "\(scratch)/\(name)", "--listen", "127.0.0.1:\(port)"],
            log: "\(scratch)/\(name).log")
        try waitForHTTP("http://127.0.0.1:\(port)/big/")
        return (cache, port)
    }

    /// Every small file through the cache once, 16 at a time.
    func warm(_ base: String, scratch: String) throws {
        let list = "\(scratch)/warm.curl"
        var lines = ""
        for index in 0..<smallFiles {
            lines +=
                "url = \"\(base)/small/\(String(format: "%02d", index % 100))/\(smallName(index))\"\noutput = \"/dev/null\"\n"
        }
        try lines.write(toFile: list, atomically: true, encoding: .utf8)
        _ = try curl(["-s", "-f", "--parallel", "--parallel-max", "16", "-K", list])
    }

    /// Waits (at most a minute) until `directory` holds no file.
    func waitForEmpty(_ directory: String) throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while let names = try? FileManager.default.contentsOfDirectory(atPath: directory), !names.isEmpty {
            guard ContinuousClock.now < deadline else {
                throw ValidationError("\(directory) still holds \(names.count) files after a minute")
            }
            usleep(100_000)
        }
    }

    /// Bytes per second of one download of `url`, body to `output` (discarded by default).
    func downloadSpeed(_ url: String, to output: String = "/dev/null") throws -> Double {
        let answer = try curl(["-s", "-f", "-o", output, "-w", "%{speed_download}", url])
        guard let speed = Double(answer.trimmingCharacters(in: .whitespacesAndNewlines)), speed > 0 else {
            throw ValidationError("downloading \(url) failed: '\(answer)'")
        }
        return speed
    }

    /// A counter from the cache's /metrics.
    func metric(_ name: String, at base: String) throws -> Double {
        let text = try curl(["-s", base + "/metrics"])
        let line = text.split(separator: "\n").first { $0.hasPrefix(name + " ") || $0.hasPrefix(name + "{") }
        return line.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
    }
}
