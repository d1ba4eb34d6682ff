import Foundation
import Testing
import TreeFixtures

/// The units in units/ as systemd reads them once installed. PID 1 here is not systemd,
/// so they are checked offline with systemd-analyze, with `@BINDIR@` pointed at the
/// built binaries as `Scripts/install.sh` points it at the installed ones.
@Suite("systemd units")
struct UnitFileTests {
    static let unitsDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("units")

    /// Each template, the name an operator enables it under, and the highest exposure
    /// `systemd-analyze security` may give it (the README's table explains the two above 2.0:
    /// they listen on the network and run rsync as root).
    @Test(
        "systemd-analyze verify finds nothing, and the sandbox keeps exposure low",
        arguments: [
            ("filelistd@.service.in", "filelistd@srv-pub-fedora.service", 2.0),
            ("filelistd-modules.service.in", "filelistd-modules.service", 2.0),
            ("filelistd-http@.service.in", "filelistd-http@srv-pub-fedora.service", 2.2),
            ("filelistd-modules-http.service.in", "filelistd-modules-http.service", 2.2),
            ("filelistd-relay@.service.in", "filelistd-relay@srv-mirror.service", 2.0),
            ("quick-mirror.service.in", "quick-mirror.service", 2.0),
            ("quick-mirror-follow.service.in", "quick-mirror-follow.service", 2.0),
        ])
    func verify(template: String, installedAs name: String, maximumExposure: Double) throws {
        let scratch = try TemporaryTree("units")
        let text = try String(contentsOf: Self.unitsDirectory.appendingPathComponent(template), encoding: .utf8)
            .replacingOccurrences(of: "@BINDIR@", with: Command.productsDirectory.path)
        #expect(text.firstMatch(of: /@[A-Z_]+@/) == nil, "a placeholder is left in \(template)")
        try text.write(toFile: scratch.path(name), atomically: true, encoding: .utf8)
        var units = [scratch.path(name)]
        if name == "quick-mirror.service" {
            // The timer names the service: verify them together, from one directory.
            let timer = try String(
                contentsOf: Self.unitsDirectory.appendingPathComponent("quick-mirror.timer"), encoding: .utf8)
            try timer.write(toFile: scratch.path("quick-mirror.timer"), atomically: true, encoding: .utf8)
            units.append(scratch.path("quick-mirror.timer"))
        }
        let verify = try Command.run("/usr/bin/systemd-analyze", ["verify", "--man=no"] + units)
        #expect(verify.status == 0, "\(verify.stderr)")
        #expect(verify.stderr.isEmpty, "\(verify.stderr)")
        let threshold = String(Int((maximumExposure * 10).rounded()))
        let security = try Command.run(
            "/usr/bin/systemd-analyze", ["security", "--offline=yes", "--threshold=\(threshold)", scratch.path(name)])
        #expect(security.status == 0, "\(String(decoding: security.stdout, as: UTF8.self).suffix(400))")
    }

    @Test("every template in units/ is checked above")
    func everyTemplateChecked() throws {
        let templates = try FileManager.default.contentsOfDirectory(atPath: Self.unitsDirectory.path)
            .filter { $0.hasSuffix(".in") }.sorted()
        #expect(
            templates == [
                "filelistd-http@.service.in", "filelistd-modules-http.service.in", "filelistd-modules.service.in",
                "filelistd-relay@.service.in", "filelistd@.service.in", "quick-mirror-follow.service.in",
                "quick-mirror.service.in",
            ])
    }
}
