import Dispatch
import Foundation
import LinuxCalls
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Gives new list versions their names on disk, durably, in the order that keeps every
/// reader safe: each file is fsynced, then linked to a temporary name, then renamed over
/// its target (the time lists last, so a client that sees one finds the others in
/// place), then the directories are fsynced. A crash at any moment leaves the previous
/// lists whole, or the new ones.
///
/// It runs on a thread of its own, after the generation is announced: the versions are
/// served from their open files meanwhile, and making 300 MB durable takes a second on
/// the development machine's disk. A job not started yet is dropped when a newer one
/// replaces all of its lists; a job that fails is tried again after `retryDelay`.
public final class ListInstaller: Sendable {
    /// One list of a job: the version and where it goes.
    public struct Entry: Sendable {
        let version: PublishedList
        private let openDirectory: OpenDirectory
        let targetName: String
        let namedTemporary: String?
        var directory: FileDescriptor { openDirectory.descriptor }
    }

    /// The target's directory, open until the last job that names it is done.
    final class OpenDirectory: Sendable {
        let descriptor: FileDescriptor
        init(_ descriptor: FileDescriptor) { self.descriptor = descriptor }
        deinit { try? descriptor.close() }
    }

    public struct Job: Sendable {
        public let generation: Int
        /// In rename order.
        let entries: [Entry]
        var targets: Set<String> { Set(entries.map(\.version.target)) }
    }

    /// What became of a job.
    public enum Outcome: Sendable {
        case installed(generation: Int, targets: [String], took: Duration)
        case failed(generation: Int, targets: [String], error: SystemCallError)
    }

    private let queue = DispatchQueue(label: "quickmirror.list-installer")
    private let waiting = Mutex<[Job]>([])
    private let report: @Sendable (Outcome) -> Void
    let retryDelay: Duration

    public init(retryDelay: Duration = .seconds(5), report: @escaping @Sendable (Outcome) -> Void) {
        self.retryDelay = retryDelay
        self.report = report
    }

    /// Installs `job` once the jobs before it are done; drops waiting jobs it replaces.
    public func install(_ job: Job) {
        let dropped = waiting.withLock { jobs -> [Job] in
            let replaced = jobs.filter { $0.targets.isSubset(of: job.targets) }
            jobs.removeAll { $0.targets.isSubset(of: job.targets) }
            jobs.append(job)
            return replaced
        }
        queue.async { [self] in
            for old in dropped { forget(old) }
            guard let next = waiting.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else { return }
            run(next)
        }
    }

    /// Waits until every job given so far is installed or has failed once.
    public func drain() { queue.sync {} }

    private func run(_ job: Job) {
        let started = ContinuousClock.now
        var linked: [(FileDescriptor, String)] = []
        do throws(SystemCallError) {
            for entry in job.entries { try Linux.fsync(entry.version.descriptor, displayPath: entry.version.target) }
            var names: [String] = []
            for entry in job.entries {
                if let name = entry.namedTemporary {
                    names.append(name)
                    continue
                }
                let name = try Self.link(entry)
                linked.append((entry.directory, name))
                names.append(name)
            }
            for (entry, name) in zip(job.entries, names) {
                try Linux.rename(name, to: entry.targetName, in: entry.directory)
            }
            linked = []
            var synced: Set<Int32> = []
            for entry in job.entries where synced.insert(entry.directory.rawValue).inserted {
                try Linux.fsync(entry.directory, displayPath: ListFileBuilder.split(entry.version.target).directory)
            }
            report(
                .installed(generation: job.generation, targets: job.entries.map(\.version.target), took: .now - started)
            )
        } catch {
            for (directory, name) in linked { try? Linux.unlink(name, in: directory) }
            report(.failed(generation: job.generation, targets: job.entries.map(\.version.target), error: error))
            retry(job)
        }
    }

    private func retry(_ job: Job) {
        let delay = retryDelay.components
        let seconds = Double(delay.seconds) + Double(delay.attoseconds) / 1e18
        queue.asyncAfter(deadline: .now() + seconds) { [self] in
            let replaced = waiting.withLock { jobs in jobs.contains { job.targets.isSubset(of: $0.targets) } }
            guard !replaced else {
                forget(job)
                return
            }
            run(job)
        }
    }

    /// A job that will never be installed: its named temporary files go.
    private func forget(_ job: Job) {
        for entry in job.entries {
            if let name = entry.namedTemporary { try? Linux.unlink(name, in: entry.directory) }
        }
    }

    /// An unnamed file gets a temporary name in its directory, to be renamed over the target.
    private static func link(_ entry: Entry) throws(SystemCallError) -> String {
        while true {
            let name = ListFileBuilder.temporaryName(for: entry.targetName)
            do {
                try Linux.linkTemporaryFile(entry.version.descriptor, into: entry.directory, name: name)
                return name
            } catch  where error.errno == .fileExists {
                continue
            }
        }
    }
}

extension ListInstaller.Entry {
    /// The entry of a freshly built version: the builder's directory and temporary name
    /// pass to it.
    init(_ version: PublishedList, from builder: ListFileBuilder) throws(SystemCallError) {
        self.version = version
        openDirectory = ListInstaller.OpenDirectory(try Linux.duplicate(builder.directory, displayPath: builder.target))
        targetName = builder.targetName
        namedTemporary = builder.takeNamedTemporary()
    }
}
