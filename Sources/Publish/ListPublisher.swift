import FileList
import LinuxCalls
import ListProtocol

/// The one owner of a server's list versions and of its generation numbers.
///
/// Each `publish` builds new versions of the lists it is given, group by group, from the
/// segments their renderer hands over (`ListFileBuilder`); a group whose lists were all
/// built replaces the versions it had, the generation moves on when any list changed,
/// `onPublish` gets the new versions (the server serves and announces them at once), and
/// the installer makes them durable and renames them into place after. A group that
/// failed keeps its versions, and its renderer's record of what it published stays as it
/// was, so the next attempt renders the same changes again.
public final class ListPublisher {
    /// One list to publish: where it goes, and how to render it.
    public struct Render {
        /// The list's file.
        public var target: String
        /// Its path as served.
        public var path: String
        /// Hands the new version's segments, in order, to `emit`.
        public var render: (_ emit: (SegmentPiece) throws -> Void) throws -> Void
        /// The delta from the version whose digest is `base` to the one whose digest is
        /// `result`, when the renderer knows what changed; nil to leave it to the server.
        public var delta: (_ base: String, _ result: String) -> FileListDelta?

        public init(
            target: String, path: String, render: @escaping ((SegmentPiece) throws -> Void) throws -> Void,
            delta: @escaping (String, String) -> FileListDelta? = { _, _ in nil }
        ) {
            self.target = target
            self.path = path
            self.render = render
            self.delta = delta
        }
    }

    /// What became of one group.
    public enum Outcome: Sendable, Equatable {
        /// Its lists were built; `changed` when any differs from the version before.
        case published(changed: Bool)
        case failed(String)

        public var succeeded: Bool { if case .published = self { true } else { false } }
    }

    public private(set) var generation = 0
    /// What the last `publish` wrote, copied and shared, for logs and benchmarks.
    public private(set) var lastStatistics = BuildStatistics()
    /// The current version of each list, by file.
    public private(set) var current: [String: PublishedList] = [:]
    public let installer: ListInstaller
    /// Called with each new generation, before its files are renamed into place.
    public var onPublish: ((Publication) -> Void)?

    public init(installer: ListInstaller) {
        self.installer = installer
    }

    /// Publishes each group (lists of modules that share hard links are one group: they
    /// are renamed together). Within a group, lists are renamed in the order given: path
    /// lists before time lists, so a client that sees a new time list finds the others.
    @discardableResult
    public func publish(_ groups: [[Render]]) -> [Outcome] {
        var outcomes: [Outcome] = []
        var files: [Publication.File] = []
        var jobs: [[ListInstaller.Entry]] = []
        var failed = false
        lastStatistics = BuildStatistics()
        for group in groups {
            do throws(SystemCallError) {
                // Every list of the group is rendered before any is finished: each builder
                // copies on a thread of its own, so the time list's copy of what did not
                // change overlaps the path list's (a change that moves the bytes after it
                // by part of a block copies both whole).
                var builders: [(Render, ListFileBuilder)] = []
                for render in group {
                    let builder = try ListFileBuilder(
                        target: render.target, previous: previousVersion(of: render.target))
                    builders.append((render, builder))
                    do {
                        try render.render { try builder.append($0) }
                    } catch let error as SystemCallError {
                        throw error
                    } catch {
                        throw SystemCallError("render", path: render.target, errno: .ioError)
                    }
                }
                var built: [(Render, ListFileBuilder, PublishedList?)] = []
                for (render, builder) in builders {
                    let version = try builder.finish()
                    lastStatistics = lastStatistics + builder.statistics
                    built.append((render, builder, version))
                }
                var entries: [ListInstaller.Entry] = []
                for (render, builder, version) in built {
                    guard let version else {
                        // The same bytes as the version before: at the first generation, that
                        // version (found on disk) is served as it is.
                        if generation == 0, let kept = current[render.target] {
                            files.append(Publication.File(path: render.path, list: kept))
                        }
                        continue
                    }
                    let base = current[render.target]
                    entries.append(try ListInstaller.Entry(version, from: builder))
                    current[render.target] = version
                    files.append(
                        Publication.File(
                            path: render.path, list: version,
                            delta: base.flatMap { render.delta($0.digest, version.digest) }))
                }
                outcomes.append(.published(changed: !entries.isEmpty))
                if !entries.isEmpty { jobs.append(entries) }
            } catch {
                failed = true
                outcomes.append(.failed("\(error)"))
            }
        }
        // Lists that were replaced are served at once, even when another group failed.
        guard !jobs.isEmpty || (generation == 0 && !failed) else { return outcomes }
        generation += 1
        let publication = Publication(generation: generation, files: files)
        let installs = jobs.map { ListInstaller.Job(generation: generation, entries: $0) }
        if generation == 1 {
            // The first lists are in place before anything is served: a client that sees
            // them announced finds them on disk too, as an rsync client would.
            for job in installs { installer.install(job) }
            installer.drain()
            onPublish?(publication)
        } else {
            onPublish?(publication)
            for job in installs { installer.install(job) }
        }
        return outcomes
    }

    /// Adopts lists another program installs (a relay's: quick-mirror renames its
    /// upstream's lists into place): each list whose file is another inode than the
    /// version held is opened and its digest computed from its bytes. Returns the new
    /// generation when a list's content changed, appeared or went (and at the first call),
    /// and the lists that cannot be read, with why.
    public func adopt(
        _ lists: [(target: String, path: String)], described: [String: InstalledListRecord] = [:]
    ) -> (Publication?, unreadable: [(String, String)]) {
        var files: [Publication.File] = []
        var removed: [String] = []
        var unreadable: [(String, String)] = []
        for (target, path) in lists {
            if let held = current[target], let info = Linux.statPath(target), UInt64(info.st_dev) == held.device,
                UInt64(info.st_ino) == held.inode
            {
                continue
            }
            do {
                let version = try described[target].flatMap { try PublishedList.open(target, describedBy: $0) }
                    ?? PublishedList.open(target)
                let before = current[target]
                current[target] = version
                if before?.digest != version.digest {
                    // The delta that made it, when it leads from the version served.
                    let delta = described[target]?.delta.flatMap { try? FileListDelta(decoding: $0, source: target) }
                        .flatMap { $0.base == before?.digest && $0.result == version.digest ? $0 : nil }
                    files.append(Publication.File(path: path, list: version, delta: delta))
                }
            } catch {
                unreadable.append((path, "\(error)"))
                if current.removeValue(forKey: target) != nil { removed.append(path) }
            }
        }
        guard !files.isEmpty || !removed.isEmpty || generation == 0 else { return (nil, unreadable) }
        generation += 1
        return (Publication(generation: generation, files: files, removed: removed), unreadable)
    }

    /// What a new version is built from: the current one, or before the first
    /// generation, the list already on disk (a restart), so that an unchanged list keeps
    /// its file, its time and its ETag.
    private func previousVersion(of target: String) -> PublishedList? {
        if let version = current[target] { return version }
        guard generation == 0, let existing = try? PublishedList.open(target) else { return nil }
        current[target] = existing
        return existing
    }
}
