import Foundation
import Synchronization
import Testing
import TreeFixtures

@testable import MirrorCache

@Suite("The request log", .ownThread)
struct RequestLogTests {
    /// Lines written through a file, read back as an operator would with `grep`.
    func lines(_ style: RequestLogStyle, _ write: (RequestLogWriter) -> Void) throws -> [String] {
        let tree = try TemporaryTree("request-log")
        let path = tree.path("log")
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        #expect(descriptor >= 0)
        defer { close(descriptor) }
        let writer = RequestLogWriter(style: style, label: "mirror-cache", descriptor: descriptor)
        write(writer)
        writer.flush()
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
    }

    @Test func oneLinePerRequestEvenWhenTheURIHoldsControlBytes() throws {
        let written = try lines(.timestamped) { writer in
            writer.record(
                client: "127.0.0.1", method: "GET", uri: "/a\nfake line\\x", status: 200, bytes: 16384,
                milliseconds: 3, served: "hit")
            writer.record(
                client: "::1", method: "HEAD", uri: "/b", status: 502, bytes: 0, milliseconds: 0,
                served: "cut (upstream closed)")
        }
        #expect(written.count == 2, "\(written)")
        #expect(written[0].contains(" info mirror-cache: request client=127.0.0.1 method=GET "))
        #expect(written[0].hasSuffix(#"uri=/a\x0afake line\x5cx status=200 bytes=16384 ms=3 served=hit"#))
        #expect(written[1].hasSuffix("status=502 bytes=0 ms=0 served=cut (upstream closed)"))
        // The time stamp is the one the other log lines carry: 2026-12-01T10:00:00+0000.
        #expect(written[0].firstMatch(of: #/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} /#) != nil, "\(written[0])")
    }

    @Test func journaldGetsThePriorityAndStampsTheTimeItself() throws {
        let written = try lines(.journalStream) { writer in
            writer.record(
                client: "10.0.0.2", method: "GET", uri: "/x", status: 200, bytes: 1, milliseconds: 0, served: "miss")
        }
        #expect(written == ["<6>request client=10.0.0.2 method=GET uri=/x status=200 bytes=1 ms=0 served=miss"])
    }

    @Test func manyLinesArriveWholeAndInOrder() throws {
        // More than one buffer's worth, from two threads at once.
        let count = 4_000
        let written = try lines(.timestamped) { writer in
            DispatchQueue.concurrentPerform(iterations: 2) { thread in
                for index in 0..<count {
                    writer.record(
                        client: "127.0.0.1", method: "GET", uri: "/t\(thread)/\(index)", status: 200, bytes: 0,
                        milliseconds: 0, served: "hit")
                }
            }
        }
        #expect(written.count == 2 * count)
        for thread in 0..<2 {
            let uris = written.compactMap { line -> Int? in
                guard let range = line.range(of: " uri=/t\(thread)/") else { return nil }
                return Int(line[range.upperBound...].prefix { $0.isNumber })
            }
            #expect(uris == Array(0..<count))
        }
    }

    @Test func aStalledReaderCostsLinesNeverTheRequestsOrUnboundedMemory() throws {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        let writer = RequestLogWriter(style: .journalStream, label: "mirror-cache", descriptor: ends[1])
        // Nobody reads yet: the pipe holds 64 KiB, the writer 8 MiB; the rest is dropped.
        let count = 120_000
        for index in 0..<count {
            writer.record(
                client: "127.0.0.1", method: "GET", uri: "/stalled/\(index)", status: 200, bytes: 0, milliseconds: 0,
                served: "hit")
        }
        let readEnd = ends[0]
        let received = Mutex<[UInt8]>([])
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) }
                guard count > 0 else { break }
                received.withLock { $0 += buffer[..<count] }
            }
            done.signal()
        }
        writer.flush()
        close(ends[1])
        done.wait()
        close(ends[0])
        let lines = received.withLock { String(decoding: $0, as: UTF8.self) }.split(separator: "\n")
        let kept = lines.filter { $0.hasPrefix("<6>request ") }.count
        let notes = lines.filter { $0.hasPrefix("<4>request log: ") }
        #expect(notes.count == 1, "\(notes)")
        let dropped = notes.first.flatMap { Int($0.split(separator: " ")[2]) } ?? -1
        #expect(dropped > 0 && kept + dropped == count, "kept \(kept), dropped \(dropped)")
        #expect(kept * 60 < 9 << 20, "at most about 8 MiB was held")
    }

    @Test func aStopDoesNotHangOnAReaderThatNeverReads() throws {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        defer { close(ends[0]) }
        let writer = RequestLogWriter(style: .journalStream, label: "mirror-cache", descriptor: ends[1])
        for index in 0..<2_000 {
            writer.record(
                client: "127.0.0.1", method: "GET", uri: "/never-read/\(index)", status: 200, bytes: 0,
                milliseconds: 0, served: "hit")
        }
        let started = ContinuousClock.now
        writer.flush(within: .milliseconds(300))
        #expect(ContinuousClock.now - started < .seconds(5), "flush gave up instead of waiting for ever")
        // The write still waits in the pipe: read it out before the pipe closes, or the
        // writer would meet a closed pipe (SIGPIPE) after this test.
        let readEnd = ends[0]
        let drained = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while buffer.withUnsafeMutableBytes({ read(readEnd, $0.baseAddress, $0.count) }) > 0 {}
            drained.signal()
        }
        writer.flush(within: .seconds(20))
        close(ends[1])
        drained.wait()
    }

    @Test func offWritesNothing() throws {
        let written = try lines(.off) { writer in
            writer.record(client: "x", method: "GET", uri: "/x", status: 200, bytes: 1, milliseconds: 0, served: "hit")
        }
        #expect(written.isEmpty)
    }
}
