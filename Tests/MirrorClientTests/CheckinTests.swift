import Foundation
import Testing
import TreeFixtures

#if canImport(Glibc)
    import Glibc
#endif

/// The MirrorManager check-in, against an XML-RPC receiver on 127.0.0.1 (python3's
/// xmlrpc.server) that decodes each payload as MirrorManager does and records it.
@Suite("MirrorManager check-in", .ownThread)
struct CheckinTests {
    /// Answers `checkin(payload)`: the first `failures` calls fail, the rest are decoded
    /// (`-_` back to `+/`, base64, bzip2, JSON) and appended to the record, one a line.
    static let receiver = """
        import base64, bz2, json, sys, xmlrpc.server
        record, failures = sys.argv[1], int(sys.argv[2])
        calls = []
        def checkin(payload):
            calls.append(payload)
            if len(calls) <= failures:
                return "temporary failure"
            data = json.loads(bz2.decompress(base64.b64decode(payload.replace("-", "+").replace("_", "/"))))
            with open(record, "a") as f:
                f.write(json.dumps(data, sort_keys=True) + "\\n")
            return "Checkin of the host was successful"
        class Handler(xmlrpc.server.SimpleXMLRPCRequestHandler):
            rpc_paths = ("/mirrormanager/xmlrpc",)
        server = xmlrpc.server.SimpleXMLRPCServer(("127.0.0.1", 0), requestHandler=Handler, logRequests=False)
        server.register_function(checkin)
        print("port", server.server_address[1], flush=True)
        server.serve_forever()
        """

    final class Receiver {
        let process: Process
        let url: String
        let record: String

        init(in tree: TemporaryTree, failures: Int = 0) throws {
            try CheckinTests.receiver.write(toFile: tree.path("receiver.py"), atomically: true, encoding: .utf8)
            record = tree.path("checkins.jsonl")
            let (process, base) = try TierTests.webServer(
                [tree.path("receiver.py"), record, "\(failures)"], log: tree.path("receiver.log"))
            self.process = process
            url = base + "/mirrormanager/xmlrpc"
        }

        deinit { TierTests.stop(process) }

        var checkins: [[String: Any]] {
            ReferenceMaster.shellLines("cat '\(record)' 2>/dev/null").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
        }
    }

    static func configuration(_ master: ReferenceMaster, server: String, extra: String = "") throws -> String {
        try master.configuration(
            master.basics + """
                MASTERMODULE=master
                MODULES=(test-a)
                MODULEMAPPING=(test-a module-a)
                CHECKIN_SITE='Test Suite Site'
                CHECKIN_PASSWORD=secret
                CHECKIN_HOST=test.checkin.host
                CHECKIN_HOST_test_a=module.checkin.host
                MIRRORMANAGER=\(server)
                \(extra)
                """)
    }

    /// What the module's check-in must report: every directory of the module, below it.
    static func expectedTree(_ master: ReferenceMaster) -> Set<String> {
        Set(ReferenceMaster.shellLines("cd '\(master.upstream.path("module-a"))' && find . -mindepth 1 -type d -printf '%P\\n'"))
            .union([""])
    }

    @Test("after a sync, one XML-RPC call per module carries the reference's payload; retried once refused")
    func checkin() throws {
        let master = try ReferenceMaster(directories: ["module-a"])
        let receiver = try Receiver(in: master.state, failures: 1)
        let config = try Self.configuration(master, server: receiver.url, extra: "MAXCHECKINRETRIES=2")
        let result = try master.run(["-c", config])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.isEmpty, "a check-in that succeeded on its second try is no error: \(result.stderr)")
        let checkins = receiver.checkins
        #expect(checkins.count == 1)
        let payload = try #require(checkins.first)
        let module = payload["test-a"] as? [String: Any]
        #expect(Set((module?["dirtree"] as? [String: Any])?.keys.map { $0 } ?? []) == Self.expectedTree(master))
        #expect(module?["enabled"] as? String == "1")
        #expect((payload["site"] as? [String: String]) == ["enabled": "1", "name": "Test Suite Site", "password": "secret"])
        #expect((payload["host"] as? [String: String])?["name"] == "module.checkin.host", "CHECKIN_HOST_<module> wins")
        #expect((payload["global"] as? [String: String])?["server"] == receiver.url)
        #expect(payload["version"] as? Int == 0)

        // Nothing changed: nothing to report. -n and -N never report.
        #expect(try master.run(["-c", config]).status == 0)
        sleepPastNextSecond()
        try master.upstream.file("module-a/releases/42/new.rpm", "new\n")
        try master.publish()
        #expect(try master.run(["-c", config, "-n"]).status == 0)
        #expect(try master.run(["-c", config, "-N"]).status == 0)
        #expect(receiver.checkins.count == 1, "-n and -N do not check in")
        // --checkin-only: from the installed lists, nothing transferred.
        let only = try master.run(["-c", config, "--checkin-only"])
        #expect(only.status == 0, "\(only.stderr)")
        #expect(receiver.checkins.count == 2)
        let reported = (receiver.checkins.last?["test-a"] as? [String: Any])?["dirtree"] as? [String: Any]
        #expect(reported?.keys.contains("releases/41") == true)
        #expect(
            reported?.keys.contains("releases/42") == false,
            "-N leaves the old list installed, and the check-in reports what the installed list describes")
    }

    @Test("a check-in that keeps failing is reported and retried, and the sync still succeeds")
    func unreachable() throws {
        let master = try ReferenceMaster(directories: ["module-a"])
        // A port nobody listens on: bind one, then close it.
        let port = try LoopbackSocket.closedPort()
        let config = try Self.configuration(
            master, server: "http://127.0.0.1:\(port)/mirrormanager/xmlrpc", extra: "MAXCHECKINRETRIES=2")
        let result = try master.run(["-c", config])
        #expect(result.status == 0, "the mirror is correct; the check-in is not the sync")
        #expect(result.stderr.contains("check-in of test-a after 2 tries"), "\(result.stderr)")
        master.expectMirrorEqualsMaster("despite the failed check-in")
    }

    @Test("--dump-mm-checkin writes the request the reference would send, decodable as MirrorManager decodes it")
    func dump() throws {
        let master = try ReferenceMaster(directories: ["module-a"])
        let config = try Self.configuration(master, server: "http://127.0.0.1:9/never")
        let prefix = master.state.path("checkin")
        let result = try master.run(["-c", config, "--dump-mm-checkin", prefix])
        #expect(result.status == 0, "\(result.stderr)")
        let request = ReferenceMaster.shellLines("cat '\(prefix)-test-a'")
        #expect(request.first == "<?xml version='1.0'?>")
        #expect(request.contains("<methodName>checkin</methodName>"))
        let decoded = ReferenceMaster.shellLines(
            "grep '^<value><string>' '\(prefix)-test-a' | sed -e 's/<value><string>//' -e 's,</string></value>,,' "
                + "| tr -- '-_' '+/' | base64 -d | bzcat")
        #expect(decoded.contains { $0.contains("\"name\": \"Test Suite Site\"") })
        #expect(decoded.contains { $0.contains("\"password\": \"secret\"") })
        #expect(decoded.contains { $0.contains("\"test-a\": {") })
        #expect(decoded.contains("            \"releases/41/dir2/dir2\": {},"))
    }
}
