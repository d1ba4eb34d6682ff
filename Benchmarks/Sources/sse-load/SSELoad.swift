import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Many `/events` subscribers on one filelistd, and a burst of publishes: does every
/// subscriber get every announcement, how long does the fan-out take, and what does a
/// subscriber cost the daemon in memory? And, first, what a connection that sends half
/// a request and then nothing (the cheapest attack, held until the header timeout)
/// costs it.
///
///   sse-load --tool PATH/filelistd [--subscribers 10000] [--publishes 10] [--interval 0.5]
///            [--half-requests 3000]
///
/// The daemon runs on a small temporary tree at 127.0.0.1; its resident memory (VmRSS)
/// is read from /proc before and after the subscribers connect. Each publish changes one
/// file; the next comes once every subscriber has its announcement, or after --interval.
@main
struct SSELoad {
    struct Options {
        var tool = "../.build/release/filelistd"
        var subscribers = 10_000
        var publishes = 10
        var interval = 0.5
        var halfRequests = 3000
    }

    static func main() throws {
        var options = Options()
        var arguments = CommandLine.arguments.dropFirst()
        while let flag = arguments.popFirst() {
            guard let value = arguments.popFirst() else { fail("\(flag) needs a value") }
            switch flag {
            case "--tool": options.tool = value
            case "--subscribers": options.subscribers = number(flag, value)
            case "--publishes": options.publishes = number(flag, value)
            case "--half-requests": options.halfRequests = number(flag, value)
            case "--interval":
                guard let seconds = Double(value) else { fail("--interval: not a number: \(value)") }
                options.interval = seconds
            default: fail("unknown option \(flag) (--tool, --subscribers, --publishes, --interval, --half-requests)")
            }
        }
        try run(options)
    }

    static func number(_ flag: String, _ value: String) -> Int {
        guard let number = Int(value), number > 0 else { fail("\(flag): not a positive number: \(value)") }
        return number
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("sse-load: \(message)\n".utf8))
        exit(2)
    }

    static func run(_ options: Options) throws {
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        limit.rlim_cur = limit.rlim_max
        setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        guard Int(limit.rlim_cur) > max(options.subscribers, options.halfRequests) + 100 else {
            fail("this process may open \(limit.rlim_cur) descriptors; \(options.subscribers) subscribers need more")
        }
        let tree = FileManager.default.temporaryDirectory.appendingPathComponent("sse-load-\(getpid())").path
        try FileManager.default.createDirectory(atPath: tree + "/pub", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: tree) }
        for index in 0..<100 { try Data("\(index)".utf8).write(to: URL(fileURLWithPath: "\(tree)/pub/p-\(index)")) }
        let log = tree + ".log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: options.tool)
        daemon.arguments = [
            "--dir", tree, "--runtime-directory", tree + ".run", "--http", "127.0.0.1:0", "--settle", "0.05",
            "--max-subscribers", "\(options.subscribers)", "--max-connections", "\(options.subscribers + 100)",
        ]
        daemon.standardError = FileHandle(forWritingAtPath: log)
        try daemon.run()
        defer {
            daemon.terminate()
            daemon.waitUntilExit()
        }
        var port: Int?
        for _ in 0..<600 where port == nil {
            usleep(100_000)
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            if text.contains("lists announced"),
                let line = text.split(separator: "\n").first(where: { $0.contains("serving HTTP") }),
                let range = line.range(of: #"address=[^ ]*:([0-9]+)"#, options: .regularExpression)
            {
                port = Int(line[range].split(separator: ":").last ?? "")
            }
        }
        guard let port else {
            fail("filelistd did not start serving:\n\((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        }
        // filelistd's `serving HTTP` line: client_limits=open_files=N (hard N) reserved=N max_connections=N ...
        let served = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n")
            .first { $0.contains("serving HTTP") }.map(String.init) ?? ""
        let limits =
            served.range(of: #"client_limits=.* max_subscribers=[0-9]+"#, options: .regularExpression).map {
                String(served[$0].dropFirst("client_limits=".count))
            } ?? "?"
        usleep(300_000)
        // Half-requests, held well inside the header timeout (60 s), then closed.
        do {
            let before = residentKiB(daemon.processIdentifier)
            var held: [Stream] = []
            for _ in 0..<options.halfRequests {
                held.append(try Stream(port: port, sending: "GET /fullfiletimelist HTTP/1.1\r\nHo"))
            }
            usleep(1_000_000)
            let after = residentKiB(daemon.processIdentifier)
            held.forEach { $0.read() }
            let open = held.filter { !$0.closed }.count
            print(
                "half-requests: \(open) of \(options.halfRequests) held open; filelistd RSS \(before) KiB before, \(after) KiB with them: \(String(format: "%.1f", Double(after - before) / Double(max(open, 1)))) KiB per connection held"
            )
            held = []
            usleep(1_000_000)
        }
        let before = residentKiB(daemon.processIdentifier)
        let started = ContinuousClock.now
        var streams: [Stream] = []
        streams.reserveCapacity(options.subscribers)
        for _ in 0..<options.subscribers {
            let stream = try Stream(port: port)
            streams.append(stream)
        }
        // Each gets the current announcement at once.
        let first = pump(&streams, until: { $0.events >= 1 }, timeout: .seconds(120))
        let connected = ContinuousClock.now - started
        usleep(500_000)
        let after = residentKiB(daemon.processIdentifier)
        print("filelistd client limits: \(limits)")
        print(
            "subscribers: \(first) of \(options.subscribers) connected and given the current announcement in \(connected)"
        )
        print(
            "filelistd RSS: \(before) KiB before, \(after) KiB with the subscribers: \(String(format: "%.1f", Double(after - before) / Double(max(first, 1)))) KiB per subscriber connected"
        )
        var worst = Duration.zero
        for publish in 1...options.publishes {
            let file = "\(tree)/pub/p-\(publish % 100)"
            try Data("changed \(publish)".utf8).write(to: URL(fileURLWithPath: file))
            let sent = ContinuousClock.now
            let want = 1 + publish
            let got = pump(&streams, until: { $0.events >= want }, timeout: .seconds(60))
            let took = ContinuousClock.now - sent
            worst = max(worst, took)
            if got < streams.count {
                print("publish \(publish): only \(got) of \(streams.count) subscribers announced")
            }
            if took < .seconds(options.interval) { usleep(useconds_t((options.interval - took / .seconds(1)) * 1e6)) }
        }
        let complete = streams.filter { $0.events >= 1 + options.publishes }.count
        let closed = streams.filter(\.closed).count
        print(
            "publishes: \(options.publishes); subscribers with every announcement: \(complete) of \(streams.count); closed by the server: \(closed); slowest fan-out (change on disk to last subscriber, settle 0.05 s included): \(worst)"
        )
        print("filelistd RSS after the burst: \(residentKiB(daemon.processIdentifier)) KiB")
    }

    /// One subscriber: a socket and the count of events it has read.
    final class Stream {
        let fd: Int32
        var events = 0
        var closed = false
        private var carry: [UInt8] = []

        init(port: Int, sending text: String = "GET /events HTTP/1.1\r\nHost: load\r\n\r\n") throws {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            let ok = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
            guard ok else { SSELoad.fail("connect: \(String(cString: strerror(errno)))") }
            let request = Array(text.utf8)
            _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }

        deinit { close(fd) }

        /// Reads what is there; counts `id:` lines (one per announcement).
        func read() {
            var buffer = [UInt8](repeating: 0, count: 16384)
            while true {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n > 0 {
                    carry += buffer[..<n]
                    while let newline = carry.firstIndex(of: 0x0A) {
                        if carry[..<newline].starts(with: Array("id:".utf8)) { events += 1 }
                        carry.removeSubrange(...newline)
                    }
                } else {
                    if n == 0 || (errno != EAGAIN && errno != EINTR) { closed = true }
                    return
                }
            }
        }
    }

    /// Polls every stream until `done` holds for all (or `timeout`); how many it holds for.
    static func pump(_ streams: inout [Stream], until done: (Stream) -> Bool, timeout: Duration) -> Int {
        let deadline = ContinuousClock.now + timeout
        var waiting = streams.indices.filter { !done(streams[$0]) }
        while !waiting.isEmpty, ContinuousClock.now < deadline {
            var descriptors = waiting.map { pollfd(fd: streams[$0].fd, events: Int16(POLLIN), revents: 0) }
            guard poll(&descriptors, nfds_t(descriptors.count), 100) > 0 else { continue }
            for (slot, index) in waiting.enumerated() where descriptors[slot].revents != 0 { streams[index].read() }
            waiting = waiting.filter { !done(streams[$0]) && !streams[$0].closed }
        }
        return streams.filter(done).count
    }

    static func residentKiB(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }
}
