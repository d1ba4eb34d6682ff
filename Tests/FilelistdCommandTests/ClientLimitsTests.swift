import Foundation
import Testing
import TreeFixtures

#if canImport(Glibc)
    import Glibc
#endif

/// filelistd --http run as its unit runs it, tried as an attacker would: thousands of
/// half-sent requests, and more connections than it may hold.
@Suite("filelistd's HTTP side under hostile clients", .ownThread)
struct ClientLimitsTests {
    static func serve(_ tree: TemporaryTree, descriptors: Int, arguments: [String] = []) throws -> (DaemonProcess, Int)
    {
        let daemon = try DaemonProcess(
            root: tree.root, arguments: ["--settle", "0.1", "--http", "127.0.0.1:0"] + arguments,
            wrapper: ["/usr/bin/prlimit", "--nofile=\(descriptors):\(descriptors)"])
        guard let port = HTTPProbe.port(inLog: { daemon.log }),
            DaemonProcess.wait(until: { daemon.log.contains("lists announced") })
        else { throw RawConnection.Failure(description: "filelistd did not serve:\n\(daemon.log)") }
        return (daemon, port)
    }

    static let listRequest = "GET /fullfiletimelist HTTP/1.1\r\nHost: origin\r\n\r\n"

    @Test(
        "under the unit's descriptor limit, 3,000 half-requests are held and a normal request is still served",
        .enabled(if: ownOpenFileLimitCanReach(4000), "this process may not open the 3,000 connections it needs"))
    func halfRequestsUnderTheUnitLimit() throws {
        // The unit's LimitNOFILE=, or as much of it as this machine's hard limit grants
        // (raising a hard limit takes CAP_SYS_RESOURCE, which a container may not have).
        let limit = min(try unitOpenFileLimit("filelistd-http@.service.in"), ownHardOpenFileLimit())
        let tree = try TemporaryTree()
        try tree.file("pub/a.rpm", "a")
        let (daemon, port) = try Self.serve(tree, descriptors: limit)
        defer { daemon.stop() }
        var held: [RawConnection] = []
        for index in 0..<3000 {
            let connection = try RawConnection(port: port)
            try connection.send("GET /fullfiletimelist?\(index) HTTP/1.1\r\nHost: origin\r\nX-Slow: ")
            held.append(connection)
        }
        let normal = try RawConnection(port: port)
        try normal.send(Self.listRequest)
        let answer = normal.readResponse(timeout: .seconds(10))
        #expect(answer?.status == 200)
        #expect(answer?.body == (try? Array(Data(contentsOf: URL(fileURLWithPath: tree.path("fullfiletimelist"))))))
        #expect(!daemon.log.contains("cap reached"), "\(daemon.log)")
        withExtendedLifetime(held) {}
    }

    @Test("at a low descriptor limit the connection cap is reached first: clients get 503, the daemon still publishes")
    func publishesWhileTheCapIsReached() throws {
        let tree = try TemporaryTree()
        for index in 0..<50 { try tree.file("pub/p-\(index).rpm", "\(index)") }
        let (daemon, port) = try Self.serve(tree, descriptors: 300)
        defer { daemon.stop() }
        #expect(daemon.log.contains("max_connections="), "\(daemon.log)")
        // Far past the cap: every connection the cap allows is taken, the rest refused.
        var held: [RawConnection] = []
        var refused = 0
        for _ in 0..<400 {
            let connection = try RawConnection(port: port)
            held.append(connection)
        }
        for index in held.indices {
            let (bytes, closed) = held[index].readUntilClosed(timeout: .milliseconds(20))
            if closed && String(decoding: bytes, as: UTF8.self).hasPrefix("HTTP/1.1 503 ") { refused += 1 }
        }
        #expect(refused > 0, "nothing was refused: \(daemon.log)")
        // The daemon's own work has the descriptors it keeps back: a change is published.
        let before = try Data(contentsOf: URL(fileURLWithPath: tree.path("fullfiletimelist")))
        try tree.file("pub/new.rpm", "new")
        #expect(
            DaemonProcess.wait(timeout: .seconds(20)) {
                let now = (try? Data(contentsOf: URL(fileURLWithPath: tree.path("fullfiletimelist")))) ?? before
                return now != before && String(decoding: now, as: UTF8.self).contains("pub/new.rpm")
            }, "no publish while the cap was reached:\n\(daemon.log)")
        #expect(try daemon.control("status").contains("generation"))
        let warnings = daemon.log.split(separator: "\n").filter { $0.contains("connection cap reached") }
        #expect(warnings.count == 1, "the cap is logged once a minute, not per client:\n\(daemon.log)")
        #expect(!daemon.log.contains("Too many open files"), "\(daemon.log)")
        held.removeAll()
        #expect(
            DaemonProcess.wait(timeout: .seconds(10)) {
                guard let metrics = try? RawConnection(port: port),
                    (try? metrics.send("GET /metrics HTTP/1.1\r\nHost: o\r\n\r\n")) != nil,
                    let answer = metrics.readResponse(timeout: .seconds(5)), answer.status == 200
                else { return false }
                let text = String(decoding: answer.body, as: UTF8.self)
                let line = text.split(separator: "\n").first {
                    $0.hasPrefix("filelistd_http_connections_refused_total ")
                }
                // At least those this test saw refused (others were reset before it read).
                return line.flatMap { Int($0.split(separator: " ").last ?? "") }.map { $0 >= refused } ?? false
            })
    }

    @Test("--help names the timeouts and caps, with their defaults")
    func helpNamesTheLimits() throws {
        let help = String(decoding: try Command.run("filelistd", ["--help"]).stdout, as: UTF8.self)
        for option in [
            "--header-timeout", "--idle-timeout", "--send-timeout", "--max-connections", "--max-subscribers",
        ] {
            #expect(help.contains(option), "\(option) missing from --help")
        }
        let bad = try Command.run("filelistd", ["--dir", "/tmp", "--http", "127.0.0.1:0", "--header-timeout", "0"])
        #expect(bad.status == 64 && bad.stderr.contains("--header-timeout"), "\(bad.stderr)")
    }
}
