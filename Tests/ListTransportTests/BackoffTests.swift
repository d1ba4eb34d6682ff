import ListTransport
import Testing

@Suite("the pacing of retries")
struct BackoffTests {
    @Test("pauses double from the first, as the reference client's 2, 4, 8... seconds, and stop at the limit")
    func doubling() {
        let backoff = Backoff(first: .seconds(2), limit: .seconds(60))
        #expect((1...7).map(backoff.pause(beforeRetry:)) == [2, 4, 8, 16, 32, 60, 60].map { Duration.seconds($0) })
        #expect(backoff.pause(beforeRetry: 1_000) == .seconds(60))
    }

    @Test("the check-in's pauses grow as the reference client's do, 2, 4, 6... seconds, and stop at the limit")
    func linear() {
        let backoff = Backoff(first: .seconds(2), limit: .seconds(9), growth: .linear)
        #expect((1...6).map(backoff.pause(beforeRetry:)) == [2, 4, 6, 8, 9, 9].map { Duration.seconds($0) })
    }

    @Test("a run retries what is worth retrying, as many times as allowed, and ends with the last outcome")
    func retries() {
        let backoff = Backoff(first: .milliseconds(1))
        var attempts = 0
        var heard: [Int] = []
        let outcome = backoff.run(retries: 3) { retry, _, _ in
            heard.append(retry)
        } _: {
            attempts += 1
            return Backoff.Attempt<Int>.again(attempts)
        }
        #expect(attempts == 4 && outcome == 4)
        #expect(heard == [1, 2, 3])
    }

    @Test("an outcome that waiting will not mend ends the run at once")
    func done() {
        var attempts = 0
        let outcome = Backoff(first: .milliseconds(1)).run(retries: 5) { _, _, _ in
        } _: {
            attempts += 1
            return attempts == 2 ? Backoff.Attempt<String>.done("found") : .again("not yet")
        }
        #expect(outcome == "found" && attempts == 2)
    }
}
