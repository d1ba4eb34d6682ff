import ListProtocol
import Foundation
import Synchronization
import Testing
import TreeFixtures

#if canImport(Glibc)
    import Glibc
#endif

/// filelistd under socket activation, as `filelistd-http@.socket` runs it: systemd's own
/// `systemd-socket-activate` listens on 127.0.0.1, and on the first connection execs
/// filelistd with the socket as descriptor 3 and LISTEN_PID/LISTEN_FDS set.
@Suite("filelistd serves on the socket systemd passes", .ownThread)
struct SocketActivationTests {
    static let activator = ["/usr/bin/systemd-socket-activate", "/lib/systemd/systemd-socket-activate"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    /// systemd-socket-activate and the filelistd it becomes, started with posix_spawn and
    /// reaped here. Foundation's `Process` learns that a child exited when a descriptor the
    /// child inherited closes; systemd-socket-activate closes every descriptor but the
    /// socket before it execs, so Foundation would block its one monitor thread waiting for
    /// a filelistd still running, and every other test's process with it.
    final class Spawned: Sendable {
        let pid: pid_t
        /// The wait status, once reaped.
        private let reaped = Mutex<Int32?>(nil)

        struct Failure: Error, CustomStringConvertible {
            var description: String
        }

        init(_ path: String, _ arguments: [String], log: String) throws {
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
            let argv = ([path] + arguments).map { strdup($0) } + [nil]
            defer { for argument in argv { free(argument) } }
            var pid = pid_t()
            let result = posix_spawn(&pid, path, &actions, nil, argv, environ)
            guard result == 0 else {
                throw Failure(description: "cannot start \(path): \(String(cString: strerror(result)))")
            }
            self.pid = pid
        }

        deinit {
            if exitStatus == nil {
                kill(pid, SIGKILL)
                var status: Int32 = 0
                waitpid(pid, &status, 0)
            }
        }

        /// The exit status once the process has ended (128 + the signal if one ended it),
        /// nil while it runs.
        var exitStatus: Int32? {
            reaped.withLock { reaped in
                if reaped == nil {
                    var status: Int32 = 0
                    if waitpid(pid, &status, WNOHANG) == pid { reaped = status }
                }
                return reaped.map { $0 & 0x7f == 0 ? ($0 >> 8) & 0xff : 128 + ($0 & 0x7f) }
            }
        }

        /// The exit status, or nil if the process was still running after `polls` looks 50 ms
        /// apart (it is killed then). Counted in looks, not in time: when the whole suite
        /// keeps Swift's threads busy, a sleep may last far longer than asked.
        func exitStatus(polls: Int) async throws -> Int32? {
            for _ in 0..<polls {
                if let status = exitStatus { return status }
                try await Task.sleep(for: .milliseconds(50))
            }
            if let status = exitStatus { return status }
            kill(pid, SIGKILL)
            return nil
        }
    }

    /// A filelistd behind systemd-socket-activate on a free loopback port; killed if a
    /// test leaves it running.
    final class Activated: Sendable {
        let tree: TemporaryTree
        let runtime: TemporaryTree
        let process: Spawned
        let logPath: String
        let base: String

        init(_ httpArguments: [String]) throws {
            tree = try TemporaryTree()
            try tree.file("releases/40/a.rpm", "a")
            try tree.file("releases/40/repodata/repomd.xml", "<repomd/>")
            runtime = try TemporaryTree("run")
            logPath = runtime.path("filelistd.log")
            let port = try LoopbackSocket.closedPort()
            base = "http://127.0.0.1:\(port)"
            process = try Spawned(
                try #require(SocketActivationTests.activator),
                [
                    "--listen=127.0.0.1:\(port)", Command.executable("filelistd").path, "--dir", tree.root,
                    "--runtime-directory", runtime.root, "--settle", "0.1", "--name", "origin", "-c",
                ] + httpArguments, log: logPath)
        }

        var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

        var listBytes: [UInt8] {
            (try? Array(Data(contentsOf: URL(fileURLWithPath: tree.path("fullfiletimelist"))))) ?? []
        }

        /// The list once the first scan has published it (the first connection is what
        /// starts filelistd; until its first publish the list is a 503). Up to 300 tries
        /// 100 ms apart, counted rather than timed, as in `Spawned.exitStatus(polls:)`.
        func publishedList() async throws -> HTTPProbe.Response {
            for _ in 0..<300 {
                if let response = try? await HTTPProbe.get("\(base)/fullfiletimelist"), response.status == 200 {
                    return response
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            throw HTTPServerTests.TestFailure("filelistd never served its list on the passed socket:\n\(log)")
        }
    }

    @Test(
        "a list with its ETag, a 304 for that ETag, /events; SIGTERM ends the stream and exits 0",
        .enabled(if: activator != nil, "systemd-socket-activate is not installed"),
        arguments: [["--http", "systemd"], []])
    func servesOnPassedSocket(httpArguments: [String]) async throws {
        let served = try Activated(httpArguments)
        let list = try await served.publishedList()
        #expect(list.body == served.listBytes)
        let etag = try #require(list.headers["etag"])
        let poll = try await HTTPProbe.get("\(served.base)/fullfiletimelist", headers: ["If-None-Match": etag])
        #expect(poll.status == 304)
        #expect(poll.body.isEmpty)
        #expect(poll.headers["etag"] == etag)
        // It serves on what it was given and bound nothing of its own.
        #expect(served.log.contains("(from systemd)"), "\(served.log)")

        let pid = served.process.pid
        let events = try await HTTPProbe.events("\(served.base)/events", count: 100, timeout: .seconds(30)) {
            kill(pid, SIGTERM)
        }
        // One announcement of the list just fetched, then a clean end (not a break, not a timeout).
        #expect(events.count == 1, "\(events)\n\(served.log)")
        let announcement = try Announcement(
            json: try #require(
                events.first?.split(separator: "\n").first { $0.hasPrefix("data:") }?.dropFirst(5)
                    .drop(while: { $0 == " " })))
        #expect(announcement.lists["fullfiletimelist"] == etag)
        #expect(try await served.process.exitStatus(polls: 600) == 0, "\(served.log)")
    }

    @Test(
        "a passed socket that is not a listening TCP socket is one line naming the descriptor, and exit 1",
        .enabled(if: activator != nil, "systemd-socket-activate is not installed"))
    func datagramSocketRefused() async throws {
        let tree = try TemporaryTree()
        try tree.file("a.rpm", "a")
        let runtime = try TemporaryTree("run")
        let log = runtime.path("filelistd.log")
        let port = try LoopbackSocket.closedPort()
        let process = try Spawned(
            try #require(Self.activator),
            [
                "--datagram", "--listen=127.0.0.1:\(port)", Command.executable("filelistd").path, "--dir", tree.root,
                "--runtime-directory", runtime.root, "--http", "systemd",
            ], log: log)
        // A datagram socket activates on its first datagram.
        let sender = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(sender) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        // Sent until filelistd has run and stopped: the first may come before the socket exists.
        for _ in 0..<200 where process.exitStatus == nil {
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(sender, "x", 1, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let status = try await process.exitStatus(polls: 20)
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(status == 1, "\(output)")
        #expect(output.contains("--http systemd: descriptor 3 from systemd is not a listening TCP socket"), "\(output)")
        #expect(!FileManager.default.fileExists(atPath: tree.path("fullfiletimelist")))
    }

    @Test("--http systemd with no socket passed is one line naming the way out, and exit 1")
    func noSocketPassed() throws {
        let tree = try TemporaryTree()
        try tree.file("a.rpm", "a")
        let runtime = try TemporaryTree("run")
        let result = try Command.run(
            "filelistd", ["--dir", tree.root, "--runtime-directory", runtime.root, "--http", "systemd"])
        #expect(result.status == 1)
        #expect(
            result.stderr.contains("--http systemd: systemd passed no socket")
                && result.stderr.contains("--http HOST:PORT"), "\(result.stderr)")
        // Nothing was scanned or written.
        #expect(!FileManager.default.fileExists(atPath: tree.path("fullfiletimelist")))
    }
}
