import Foundation
import Testing
import TreeFixtures

/// `Scripts/demo-tiers.sh` as the suite runs it: three tiers on loopback (filelistd and
/// rsync at the top; quick-mirror follow, a relay and rsync below), a change at the top,
/// and the bottom tier compared with the top until identical. The script does the
/// comparing; this test holds it to finishing, with the built executables.
@Suite("three tiers, one command", .ownThread)
struct ThreeTierDemoTests {
    static let script = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Scripts/demo-tiers.sh").path

    @Test("a change at tier 0 reaches tier 2, compared entry by entry, hard links kept")
    func changeReachesTheBottomTier() throws {
        let scratch = try TemporaryTree("tiers")
        let result = try Command.run(
            "/usr/bin/env",
            ["QUICKMIRROR_BIN=\(Command.productsDirectory.path)", "bash", Self.script, scratch.path("demo")])
        let output = String(decoding: result.stdout, as: UTF8.self)
        #expect(result.status == 0, "\(output)\n\(result.stderr)")
        #expect(output.contains("first sync: tier 2 is identical to tier 0"), "\(output)")
        #expect(output.contains("tier 2 identical to tier 0"), "\(output)")
    }
}
