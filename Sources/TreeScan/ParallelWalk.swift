import Foundation
import LinuxCalls
import SystemPackage

/// Why a scan could not start.
public struct ScanError: Error, CustomStringConvertible {
    public var root: String
    public var underlying: SystemCallError

    public var description: String {
        "cannot scan '\(root)': \(underlying.errno == .notDirectory ? "not a directory" : underlying.errno.description)"
    }
}

/// Walks a tree on several threads and hands each directory to `consume` on the calling
/// thread in depth-first pre-order (children sorted by name bytes), so output is
/// deterministic however the threads interleave.
///
/// Work is a LIFO stack: a worker takes the most recently found directory, which keeps
/// the walk close to the order `consume` needs it in and so bounds what waits in memory.
/// `transform` runs on the worker that read the directory, so rendering is parallel too.
public enum ParallelWalk {
    public static func run<Output: Sendable>(
        root: String,
        options: ScanOptions,
        warn: @escaping @Sendable (ScanWarning) -> Void,
        transform: @escaping @Sendable (ScannedDirectory) -> Output,
        consume: (Output) throws -> Void
    ) throws -> Int {
        let rootFD: FileDescriptor
        do {
            rootFD = try Linux.openat(nil, root, flags: O_RDONLY | O_DIRECTORY)
        } catch {
            throw ScanError(root: root, underlying: error)
        }
        defer { try? rootFD.close() }

        let rootNode = WalkNode<Output>(path: [], underRestrictedDirectory: false)
        let state = WalkState<Output>(root: rootNode)
        let workerCount = max(1, options.workers)
        state.runningWorkers = workerCount
        for _ in 0..<workerCount {
            let thread = Thread {
                let reader = DirectoryReader(options: options)
                while let node = state.take() {
                    let directory = reader.read(
                        root: rootFD, path: node.path, underRestrictedDirectory: node.underRestrictedDirectory,
                        warn: warn)
                    let children = directory.entries.lazy.filter(\.isDirectory).map { entry in
                        WalkNode<Output>(
                            path: directory.childPath(entry),
                            underRestrictedDirectory: directory.underRestrictedDirectory || entry.mode & 0o004 == 0)
                    }
                    state.complete(node, output: transform(directory), children: Array(children))
                }
                state.workerExited()
            }
            thread.name = "tree-scan"
            thread.start()
        }

        var directories = 0
        var pending = [rootNode]
        do {
            while let node = pending.popLast() {
                let (output, children) = state.waitForCompletion(of: node)
                try consume(output)
                directories += 1
                pending.append(contentsOf: children.reversed())
            }
        } catch {
            state.cancel()
            state.waitForWorkers()
            throw error
        }
        state.waitForWorkers()
        return directories
    }
}

final class WalkNode<Output>: @unchecked Sendable {
    let path: [UInt8]
    let underRestrictedDirectory: Bool
    // Guarded by WalkState.condition.
    var output: Output?
    var children: [WalkNode] = []
    var done = false

    init(path: [UInt8], underRestrictedDirectory: Bool) {
        self.path = path
        self.underRestrictedDirectory = underRestrictedDirectory
    }
}

/// The shared state of one walk. Everything is guarded by `condition`; there are a few
/// tens of thousands of directories in a large tree, so one lock is not contended.
final class WalkState<Output>: @unchecked Sendable {
    private let condition = NSCondition()
    private var stack: [WalkNode<Output>]
    private var active = 0
    private var cancelled = false
    var runningWorkers = 0

    init(root: WalkNode<Output>) { stack = [root] }

    private var finished: Bool { cancelled || (stack.isEmpty && active == 0) }

    /// The next directory to read, or nil once the walk is over.
    func take() -> WalkNode<Output>? {
        condition.lock()
        defer { condition.unlock() }
        while stack.isEmpty && !finished { condition.wait() }
        guard !cancelled, let node = stack.popLast() else { return nil }
        active += 1
        return node
    }

    func complete(_ node: WalkNode<Output>, output: Output, children: [WalkNode<Output>]) {
        condition.lock()
        node.output = output
        node.children = children
        node.done = true
        stack.append(contentsOf: children.reversed())
        active -= 1
        condition.broadcast()
        condition.unlock()
    }

    /// Blocks until a worker has read `node`, then hands over (and forgets) its output.
    func waitForCompletion(of node: WalkNode<Output>) -> (Output, [WalkNode<Output>]) {
        condition.lock()
        defer { condition.unlock() }
        while !node.done { condition.wait() }
        let result = (node.output!, node.children)
        node.output = nil
        node.children = []
        return result
    }

    func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        condition.unlock()
    }

    func workerExited() {
        condition.lock()
        runningWorkers -= 1
        condition.broadcast()
        condition.unlock()
    }

    func waitForWorkers() {
        condition.lock()
        while runningWorkers > 0 { condition.wait() }
        condition.unlock()
    }
}
