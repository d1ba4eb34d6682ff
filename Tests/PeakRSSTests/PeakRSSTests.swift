import Foundation
import Testing
import TreeFixtures

/// `peak-rss`, the benchmarks' measure of a command's peak memory, started from a process
/// that holds a large buffer, as a benchmark holding its generated lists does: the figure
/// must be the command's, not the starter's.
@Suite struct PeakRSSTests {
    /// Runs `peak-rss` from this process and returns the exit status and the figure (KiB).
    func measure(_ command: [String]) throws -> (status: Int32, kib: Int) {
        let scratch = try TemporaryTree("peak-rss")
        let figure = scratch.path("peak")
        let result = try Command.run("peak-rss", [figure] + command)
        let text = try String(contentsOfFile: figure, encoding: .utf8)
        let kib = try #require(Int(text.trimmingCharacters(in: .whitespacesAndNewlines)), "peak-rss wrote '\(text)'")
        return (result.status, kib)
    }

    /// 512 MiB, every page touched, held while the commands run.
    func holdingLargeBuffer<T>(_ body: () throws -> T) rethrows -> T {
        let buffer = [UInt8](repeating: 1, count: 512 << 20)
        return try withExtendedLifetime(buffer) { try body() }
    }

    @Test func aTinyCommandStartedFromALargeProcessMeasuresTiny() throws {
        let (status, kib) = try holdingLargeBuffer { try measure(["/bin/true"]) }
        #expect(status == 0)
        // /bin/true needs about a megabyte; the starter holds half a gigabyte.
        #expect(kib < 16 * 1024, "peak-rss says /bin/true peaked at \(kib) KiB")
    }

    @Test func aCommandOfKnownSizeMeasuresItsSize() throws {
        // dd reads 256 MiB from /dev/zero into one buffer: every page of it is touched.
        let (status, kib) = try holdingLargeBuffer {
            try measure(["dd", "if=/dev/zero", "of=/dev/null", "bs=256M", "count=1", "status=none"])
        }
        #expect(status == 0)
        #expect(kib >= 256 * 1024 && kib < 256 * 1024 + 32 * 1024, "peak-rss says dd peaked at \(kib) KiB")
    }

    @Test func theCommandsExitStatusIsPassedOn() throws {
        #expect(try measure(["/bin/sh", "-c", "exit 3"]).status == 3)
        // KILL: a test runner may start us with TERM blocked, and a blocked mask is inherited.
        #expect(try measure(["/bin/sh", "-c", "kill -KILL $$"]).status == 128 + 9)
    }

    @Test func aCommandThatCannotRunSaysSo() throws {
        let scratch = try TemporaryTree("peak-rss")
        let result = try Command.run("peak-rss", [scratch.path("peak"), "/nonexistent/command"])
        #expect(result.status == 127)
        #expect(result.stderr.contains("cannot run /nonexistent/command"))
    }
}
