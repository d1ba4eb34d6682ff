import DaemonControl
import ListProtocol
import Foundation
import Testing

/// The control socket's commands as both sides spell them: what `filelistd status`,
/// `rescan` and quick-mirror send is what the daemon and the relay read.
@Suite struct ControlCommandTests {
    @Test func everyCommandReadsBackAsSent() throws {
        let hops = [
            Hop(host: "dl01", generation: 12, announced: Date(timeIntervalSince1970: 1_764_000_000.123)),
            Hop(host: "tier1", generation: 5, announced: Date(timeIntervalSince1970: 1_764_000_000.5)),
        ]
        for command in [
            ControlCommand.status, .rescan, .announce(hops: []), .announce(hops: hops),
            .announce(hops: hops, records: "/srv/mirror/.quick-mirror-last-run.lists"),
        ] {
            #expect(try ControlCommand(line: command.line) == command, "\(command.line)")
        }
    }

    @Test func spacesAroundTheCommandAreIgnored() throws {
        #expect(try ControlCommand(line: "  status") == .status)
        #expect(try ControlCommand(line: "announce") == .announce(hops: []))
        #expect(try ControlCommand(line: "announce   []") == .announce(hops: []))
    }

    @Test func anythingElseIsRefusedWithTheReason() {
        for (line, reason) in [
            ("reboot", "unknown command 'reboot'"),
            ("status now", "unknown command 'status now'"),
            ("", "unknown command ''"),
            ("announce not-json", "the hops are not a JSON array of hops"),
        ] {
            #expect(throws: ControlCommandError.self) { try ControlCommand(line: line) }
            do {
                _ = try ControlCommand(line: line)
            } catch {
                #expect(error.description.hasPrefix(reason), "\(line): \(error)")
            }
        }
    }
}
