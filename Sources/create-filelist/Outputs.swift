import Publish
import SystemPackage

/// Where the lists go: standard output, or files replaced atomically.
struct Outputs {
    let time: Destination
    let paths: Destination?
    let images: Destination?

    /// Opens every file output before the scan starts, so an unwritable target fails at
    /// once and no tree is walked for nothing.
    init(timeList: String, pathList: String?, imageList: String?) throws {
        time = try Destination(timeList)
        paths = try pathList.map(Destination.init)
        images = try imageList.map(Destination.init)
    }

    func discard() {
        for destination in [paths, images, time] { destination?.file?.discard() }
    }

    /// The time list goes last: a client that sees a new time list finds the other
    /// lists already in place.
    func commit(ifChanged: Bool) throws -> [(path: String, outcome: AtomicFile.Outcome)] {
        var outcomes: [(String, AtomicFile.Outcome)] = []
        for destination in [paths, images, time].compactMap({ $0 }) {
            guard let file = destination.file else { continue }
            do {
                outcomes.append((file.target, try file.commit(ifChanged: ifChanged)))
            } catch {
                discard()
                throw Failure("cannot write '\(file.target)': \(error.errno)")
            }
        }
        return outcomes
    }
}

struct Destination {
    let file: AtomicFile?

    init(_ path: String) throws {
        if path == "-" {
            file = nil
            return
        }
        do {
            file = try AtomicFile(target: path)
        } catch {
            throw Failure("cannot write '\(path)': \(error.errno)")
        }
    }

    func write(_ bytes: [UInt8]) throws {
        if let file {
            do {
                try file.write(bytes)
            } catch {
                throw Failure("cannot write '\(file.target)': \(error.errno)")
            }
        } else {
            do {
                _ = try bytes.withUnsafeBytes { try FileDescriptor.standardOutput.writeAll($0) }
            } catch {
                throw Failure("cannot write to standard output: \(error)")
            }
        }
    }
}
