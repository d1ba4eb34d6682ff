import Foundation
import Testing
import TreeFixtures

/// The units in units/ as systemd reads them. PID 1 here is not systemd, so they are
/// checked offline with systemd-analyze, with ExecStart pointed at the built binary.
@Suite("systemd units")
struct UnitFileTests {
    static let unitsDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("units")

    @Test(
        "systemd-analyze verify finds nothing, and the sandbox keeps exposure low",
        arguments: [
            ("filelistd@.service", "filelistd@srv-pub-fedora.service"),
            ("filelistd-modules.service", "filelistd-modules.service"),
            ("filelistd-relay@.service", "filelistd-relay@srv-mirror.service"),
        ])
    func verify(unit: String, installedAs name: String) throws {
        let scratch = try TemporaryTree("units")
        let text = try String(contentsOf: Self.unitsDirectory.appendingPathComponent(unit), encoding: .utf8)
            .replacingOccurrences(of: "/usr/local/bin/filelistd", with: Command.executable("filelistd").path)
        try text.write(toFile: scratch.path(name), atomically: true, encoding: .utf8)
        let verify = try Command.run("/usr/bin/systemd-analyze", ["verify", "--man=no", scratch.path(name)])
        #expect(verify.status == 0, "\(verify.stderr)")
        #expect(verify.stderr.isEmpty, "\(verify.stderr)")
        let security = try Command.run(
            "/usr/bin/systemd-analyze", ["security", "--offline=yes", "--threshold=30", scratch.path(name)])
        #expect(security.status == 0, "\(String(decoding: security.stdout, as: UTF8.self).suffix(400))")
    }
}
