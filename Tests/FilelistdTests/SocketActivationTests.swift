import ChangeStream
import Foundation
import Testing
import TreeFixtures

#if canImport(Glibc)
    import Glibc
#endif

/// filelistd under socket activation, as `filelistd-http@.socket` runs it: systemd's own
/// `systemd-socket-activate` listens on 127.0.0.1, and on the first connection execs
/// filelistd with the socket as descriptor 3 and LISTEN_PID/LISTEN_FDS set.
@Suite("filelistd serves on the socket systemd passes")
struct SocketActivationTests {
    static let activator = ["/usr/bin/systemd-socket-activate", "/lib/systemd/systemd-socket-activate"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    /// A filelistd behind systemd-socket-activate on a free loopback port; killed if a
    /// test leaves it running.
    final class Activated: @unchecked Sendable {
        let tree: TemporaryTree
        let runtime: TemporaryTree
        let process: Process
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
            process = try Command.start(
                try #require(SocketActivationTests.activator),
                [
                    "--listen=127.0.0.1:\(port)", Command.executable("filelistd").path, "--dir", tree.root,
                    "--runtime-directory", runtime.root, "--settle", "0.1", "--name", "origin", "-c",
                ] + httpArguments, log: logPath, stdoutToLog: true)
        }

        deinit {
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
        }

        var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

        var listBytes: [UInt8] {
            (try? Array(Data(contentsOf: URL(fileURLWithPath: tree.path("fullfiletimelist"))))) ?? []
        }

        /// The list once the first scan has published it (the first connection is what
        /// starts filelistd; until its first publish the list is a 503).
        func publishedList() async throws -> HTTPProbe.Response {
            let deadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < deadline {
                if let response = try? await HTTPProbe.get("\(base)/fullfiletimelist"), response.status == 200 {
                    return response
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            throw HTTPServerTests.TestFailure("filelistd never served its list on the passed socket:\n\(log)")
        }

        /// Whether the process exited within `timeout` (it is killed otherwise).
        func exited(within timeout: Duration) -> Bool {
            let exited = DaemonProcess.wait(timeout: timeout) { !process.isRunning }
            if !exited { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            return exited
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

        let pid = served.process.processIdentifier
        let events = try await HTTPProbe.events("\(served.base)/events", count: 100, timeout: .seconds(30)) {
            kill(pid, SIGTERM)
        }
        // One announcement of the list just fetched, then a clean end (not a break, not a timeout).
        #expect(events.count == 1, "\(events)\n\(served.log)")
        let announcement = try Announcement(
            json: try #require(events.first?.split(separator: "\n").first { $0.hasPrefix("data:") }?.dropFirst(5).drop(while: { $0 == " " })))
        #expect(announcement.lists["fullfiletimelist"] == etag)
        #expect(served.exited(within: .seconds(30)), "\(served.log)")
        #expect(served.process.terminationReason == .exit)
        #expect(served.process.terminationStatus == 0, "\(served.log)")
    }

    @Test(
        "a passed socket that is not a listening TCP socket is one line naming the descriptor, and exit 1",
        .enabled(if: activator != nil, "systemd-socket-activate is not installed"))
    func datagramSocketRefused() throws {
        let tree = try TemporaryTree()
        try tree.file("a.rpm", "a")
        let runtime = try TemporaryTree("run")
        let log = runtime.path("filelistd.log")
        let port = try LoopbackSocket.closedPort()
        let process = try Command.start(
            try #require(Self.activator),
            [
                "--datagram", "--listen=127.0.0.1:\(port)", Command.executable("filelistd").path, "--dir", tree.root,
                "--runtime-directory", runtime.root, "--http", "systemd",
            ], log: log)
        defer {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        // A datagram socket activates on its first datagram.
        let sender = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(sender) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        #expect(DaemonProcess.wait(timeout: .seconds(20)) {
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(sender, "x", 1, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            return !process.isRunning
        })
        process.waitUntilExit()
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(process.terminationStatus == 1, "\(output)")
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
