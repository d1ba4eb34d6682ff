import FileList
import Foundation
import Testing
import TreeFixtures

@Suite("Killing create-filelist never leaves a partial list", .ownThread)
struct CrashSafetyTests {
    @Test("SIGKILL at random moments: the target is always the old list or the new one, complete")
    func killAtRandomMoments() throws {
        let tree = try TemporaryTree("crash")
        // About 6,000 entries: a list of several hundred KB, written over many writes.
        for directory in 0..<40 {
            for file in 0..<150 { try tree.file("d\(directory)/package-\(file)-1.0-1.fc40.x86_64.rpm", "") }
        }
        let out = try TemporaryTree("crash-out")
        let target = out.path("fullfiletimelist")
        #expect(try Command.run("create-filelist", ["-d", tree.root, "-t", target]).status == 0)

        var generator = SystemRandomNumberGenerator()
        var killed = 0
        var replaced = 0
        for round in 0..<40 {
            let old = try out.read("fullfiletimelist")
            // A new file makes the new list differ from the old.
            try tree.file("new/round-\(round)", "")
            let new = try Command.run("create-filelist", ["-d", tree.root]).stdout
            #expect(new != old)

            let process = try Command.start("create-filelist", ["-d", tree.root, "-t", target])
            usleep(UInt32.random(in: 0...40_000, using: &generator))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            if process.terminationReason == .uncaughtSignal { killed += 1 }

            let now = try out.read("fullfiletimelist")
            #expect(now == old || now == new, "round \(round): the list is neither the old nor the new one")
            #expect(throws: Never.self) { try FileListReader.parse(now) }
            if now == new { replaced += 1 }
            // Bring the target up to date for the next round.
            #expect(try Command.run("create-filelist", ["-d", tree.root, "-t", target]).status == 0)
        }
        // The test means something only if some runs died mid-way and some finished.
        #expect(killed > 0)
        #expect(try out.names().filter { $0 != "fullfiletimelist" }.count <= 1, "no pile of temporary files")
    }
}
