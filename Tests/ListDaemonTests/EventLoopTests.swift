import Foundation
import Synchronization
import SystemPackage
import Testing
import TreeFixtures

@testable import ListDaemon

#if canImport(Glibc)
    import Glibc
#endif

/// The wait the daemon and the relay share, on pipes: it reports the inputs that are
/// readable and nothing else, a due timer as no input, and a signal as neither.
@Suite("EventLoop", .ownThread)
struct EventLoopTests {
    enum Input: Hashable { case first, second }

    /// A pipe whose read end the loop watches; closed with the value.
    final class Pipe: Sendable {
        let read: FileDescriptor
        let write: FileDescriptor

        init() throws {
            var ends: [Int32] = [0, 0]
            guard pipe(&ends) == 0 else { throw Errno(rawValue: errno) }
            for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
            read = FileDescriptor(rawValue: ends[0])
            write = FileDescriptor(rawValue: ends[1])
        }

        func send() throws { _ = try write.writeAll([UInt8(ascii: "x")]) }

        deinit {
            try? read.close()
            try? write.close()
        }
    }

    @Test("a readable descriptor is reported, the others are not, whatever the timers")
    func readyInput() throws {
        let first = try Pipe()
        let second = try Pipe()
        var loop = EventLoop<Input>([(.first, first.read), (.second, second.read)])
        try second.send()
        #expect(try loop.wait(timers: []) == [.second])
        // Still unread: reported again, now beside the other one.
        try first.send()
        #expect(try loop.wait(timers: [nil]) == [.first, .second])
        // A timer already due does not hide a ready input.
        #expect(try loop.wait(timers: [ContinuousClock.now - .seconds(1)]) == [.first, .second])
    }

    @Test("with nothing readable, the earliest timer ends the wait, never before it is due")
    func timerFires() throws {
        let first = try Pipe()
        var loop = EventLoop<Input>([(.first, first.read)])
        let clock = ContinuousClock()
        let start = clock.now
        let due = start + .milliseconds(80)
        let ready = try loop.wait(timers: [nil, start + .seconds(30), due, nil])
        #expect(ready.isEmpty)
        #expect(clock.now >= due, "woke \(due - clock.now) before the timer was due")
        // A timer that is already due ends the wait at once.
        #expect(try loop.wait(timers: [start]).isEmpty)
    }

    @Test("a signal that interrupts the wait neither ends it nor counts as an input")
    func signalDoesNotEndTheWait() throws {
        struct Outcome: Sendable {
            var timerOnly: Set<Input> = []
            var early: Duration = .zero
            var signalsDuringTimerWait = 0
            var thenData: Set<Input> = []
            var signalsInAll = 0
            var failure: String?
        }
        let first = try Pipe()
        signal(SIGUSR1, countInterruption)
        let outcome = Box(Outcome())
        let done = DispatchSemaphore(value: 0)
        // Dispatch's threads, which run tests, block SIGUSR1: the wait runs on a thread
        // of its own that takes it, as the daemon's loop thread takes what it does not block.
        let waiting = Thread {
            defer { done.signal() }
            var set = sigset_t()
            sigemptyset(&set)
            sigaddset(&set, SIGUSR1)
            pthread_sigmask(SIG_UNBLOCK, &set, nil)
            let waiter = pthread_self()
            let before = interruptions.load(ordering: .relaxed)
            var result = Outcome()
            do {
                var loop = EventLoop<Input>([(.first, first.read)])
                // A signal during a wait with only a timer: the wait lasts until it is due.
                let clock = ContinuousClock()
                let due = clock.now + .milliseconds(300)
                Thread.detachNewThread {
                    Thread.sleep(forTimeInterval: 0.05)
                    pthread_kill(waiter, SIGUSR1)
                }
                result.timerOnly = try loop.wait(timers: [due])
                result.early = clock.now < due ? clock.now.duration(to: due) : .zero
                result.signalsDuringTimerWait = interruptions.load(ordering: .relaxed) - before
                // A signal, then data: the data is what ends the wait.
                Thread.detachNewThread {
                    Thread.sleep(forTimeInterval: 0.05)
                    pthread_kill(waiter, SIGUSR1)
                    Thread.sleep(forTimeInterval: 0.05)
                    do { try first.send() } catch { outcome.value.failure = "write: \(error)" }
                }
                result.thenData = try loop.wait(timers: [clock.now + .seconds(30)])
                result.signalsInAll = interruptions.load(ordering: .relaxed) - before
            } catch {
                result.failure = "\(error)"
            }
            if let failure = outcome.value.failure { result.failure = failure }
            outcome.value = result
        }
        waiting.start()
        done.wait()
        let result = outcome.value
        #expect(result.failure == nil)
        #expect(result.timerOnly.isEmpty)
        #expect(result.early == .zero, "the signal ended the wait \(result.early) early")
        #expect(result.signalsDuringTimerWait == 1, "the signal did not arrive during the wait")
        #expect(result.thenData == [.first])
        #expect(result.signalsInAll == 2)
    }
}

/// A value handed between threads that a semaphore (or thread start) orders.
private final class Box<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}

private let interruptions = Atomic<Int>(0)

private func countInterruption(_: Int32) { interruptions.add(1, ordering: .relaxed) }
