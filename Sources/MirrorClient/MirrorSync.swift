import Crypto
import FileList
import Foundation
import LinuxCalls
import ListTransport
import ListProtocol
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// What a run did, for the summary line.
public struct SyncSummary: Sendable {
    public var changedModules: [String] = []
    public var transferred = 0
    public var deleted = 0
    public var verified = 0
    public var keptNotEmpty = 0
    public var dryRun = false
    /// How each list arrived, when over HTTP: path -> unchanged, delta or whole.
    public var listFetches: [String: String] = [:]
    /// Each changed module's mirrored directories (below the master module), for the check-in.
    public var directories: [String: [String]] = [:]
    /// What rsync counted over every transfer of the run; nil when one of them could not
    /// say (see `Rsync.transfer`).
    public var transferStatistics: TransferStatistics? = TransferStatistics()
    /// Entries deleted, by module.
    public var deletedByModule: [String: Int] = [:]
    /// The ETag of each list the run fetched over HTTP, by list path: which versions the
    /// mirror holds once they are installed.
    public var listETags: [String: String] = [:]

    mutating func add(_ statistics: TransferStatistics?) {
        transferStatistics = transferStatistics.flatMap { total in statistics.map { total + $0 } }
    }

    public var line: String {
        if changedModules.isEmpty { return "nothing changed upstream" }
        func count(_ number: Int, _ noun: String) -> String { "\(number) \(noun)\(number == 1 ? "" : "s")" }
        return "\(dryRun ? "would sync" : "synced") \(changedModules.joined(separator: " ")): "
            + "\(count(transferred, "path")) transferred, \(deleted) deleted, \(count(verified, "checksum")) verified"
            + (keptNotEmpty > 0
                ? ", \(keptNotEmpty == 1 ? "1 directory" : "\(keptNotEmpty) directories") kept (not empty)" : "")
    }
}

public struct SyncError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// One run of the client: fetch the lists, plan, transfer with rsync, verify, delete,
/// and only then install the new lists and record the run.
///
/// Order matters for the tiers below: the lists go in last, after the content they
/// describe, so a downstream mirror never reads a list that is ahead of the tree; and
/// nothing is deleted unless the lists parsed and rsync succeeded.
public struct MirrorSync {
    public var configuration: ClientConfiguration
    public var alwaysCheck = false
    public var dryRun = false
    /// `-N` (and `-n`, `--refresh`): transfer, delete nothing, and record nothing, so
    /// the next run finds the same differences and deletes then.
    public var noDeletions = false
    /// Overrides the last successful run's time (`-t`, `-T`).
    public var since: Int64?
    /// `--no-paranoia`: record the run's real start, not five seconds before it.
    public var noParanoia = false
    /// `--dir-times`: restore the time of every directory of a changed module.
    public var allDirectoryTimes = false
    /// `--refresh REGEX`: fetch again (comparing content) every listed path that matches.
    public var refresh: NSRegularExpression?
    public var guardRule = DeletionGuard()
    /// Each changed module's directories into the summary (for a MirrorManager check-in).
    public var collectDirectories = false
    public var rsync: Rsync
    public var logger: Logger

    public init(configuration: ClientConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        rsync = Rsync(
            timeout: configuration.rsyncTimeout, extraOptions: configuration.rsyncOptions,
            attempts: configuration.maxRetries)
        rsync.executable = configuration.rsyncExecutable
        rsync.environment = configuration.exported
    }

    var source: String {
        configuration.masterModule.isEmpty
            ? configuration.remote : "\(configuration.remote)/\(configuration.masterModule)"
    }

    var listPaths: [String] {
        configuration.effectiveModules.map {
            "\(configuration.directory(of: $0))/\(configuration.fileListName(of: $0))"
        }
    }

    /// What the master module holds beside the modules with MIRRORBUFFET (the reference
    /// adds it to every buffet transfer).
    static let buffetExtra = "DIRECTORY_SIZES.txt"

    public func run() throws -> SyncSummary {
        let started = Int64(Date().timeIntervalSince1970)
        let destination = configuration.destination
        guard !destination.isEmpty else { throw SyncError("DESTD is not set") }
        try FileManager.default.createDirectory(atPath: destination, withIntermediateDirectories: true)
        // Whatever the run comes to, the mirror's top directory keeps its times.
        let stagingArea = try StagingArea(in: destination, logger: logger)
        defer { stagingArea.remove() }
        let staging = stagingArea.path

        // A run that stopped after it began changing the tree left files that neither the
        // installed lists nor the next ones may name: this one compares with the tree, as -a.
        let unfinished = UnfinishedRun(timeFile: configuration.effectiveTimeFile)
        let resuming = unfinished.isMarked
        let alwaysCheck = self.alwaysCheck || resuming
        if alwaysCheck && !self.alwaysCheck {
            logger.warning(
                "the last run stopped after it began changing the mirror: comparing with the tree, as -a does",
                metadata: ["item": "e"])
        }

        // 1. The lists, into staging. Each must parse strictly before anything else happens.
        let modulesToSync = configuration.effectiveModules
        let listPaths = self.listPaths
        var summary = SyncSummary()
        summary.dryRun = dryRun
        let listSource = configuration.listSource ?? source
        var etags: [String: String] = [:]
        var arrivals: [String: HTTPListFetcher.Arrival] = [:]
        var records: [String: InstalledListRecord] = [:]
        if let base = configuration.httpListSource {
            let saved = SavedETags.load(timeFile: configuration.effectiveTimeFile, destination: destination)
            records = InstalledLists.load(timeFile: configuration.effectiveTimeFile, destination: destination)
            let fetcher = HTTPListFetcher(
                base: base, timeout: configuration.rsyncTimeout, maxRetries: rsync.attempts - 1,
                backoff: rsync.backoff, logger: logger)
            for path in listPaths {
                let arrival = try fetcher.fetch(
                    path, installed: "\(destination)/\(path)", savedETag: saved[path],
                    record: alwaysCheck ? nil : records[path], into: "\(staging)/\(path)")
                etags[path] = arrival.etag
                arrivals[path] = arrival
                switch arrival.outcome {
                case .unchanged: summary.listFetches[path] = "unchanged"
                case .delta(let edits):
                    summary.listFetches[path] =
                        "delta of \(edits) edit\(edits == 1 ? "" : "s")"
                        + (arrival.applied != nil ? ", applied in place" : "")
                case .whole(nil): summary.listFetches[path] = "whole list"
                case .whole(let compressed?):
                    summary.listFetches[path] = "whole list, \(compressed) bytes gzip-compressed"
                }
            }
            summary.listETags = etags
        } else {
            // The installed lists, linked into staging: rsync replaces a name it updates
            // (never writing into the inode), so the installed copy stays as it was.
            for path in listPaths {
                let installed = "\(destination)/\(path)"
                guard FileManager.default.fileExists(atPath: installed) else { continue }
                try FileManager.default.createDirectory(
                    atPath: "\(staging)/\((path as NSString).deletingLastPathComponent)", withIntermediateDirectories: true)
                // Else rsync fetches it whole.
                try? Linux.link(installed, as: "\(staging)/\(path)")
            }
            do {
                try rsync.fetch(source: listSource, paths: listPaths, into: staging, logger: logger)
            } catch {
                throw SyncError("cannot fetch the file lists from \(listSource): \(error)")
            }
        }
        let filter = try Self.regularExpression(configuration.filterExpression, key: "FILTEREXP")
        var planner = TransferPlanner(preBitflip: configuration.preBitflip, filter: filter, since: nil)
        if let refresh { return try refetch(matching: refresh, listPaths: listPaths, staging: staging, planner: planner) }

        var modules: [ModuleLists] = []
        var unchangedEntries = 0
        var installs: [String] = []
        let lastRun = since ?? LastRun.read(configuration.effectiveTimeFile)
        // Each installed list's record, as the next run will find it.
        var changes: [String: DeltaChange] = [:]
        var fullLists: [String: CompactFileList] = [:]
        for (module, listPath) in zip(modulesToSync, listPaths) {
            let arrival = arrivals[listPath]
            let record = records[listPath]
            // The installed list, linked: its record counts its entries for the guard.
            if !alwaysCheck, let record, arrival?.outcome == .unchanged {
                unchangedEntries += record.entries
                continue
            }
            if let applied = arrival?.applied, let record, plansFromChanges(record: record, lastRun: lastRun) {
                let change: DeltaChange
                do {
                    change = try DeltaChange(
                        applied, installed: "\(destination)/\(listPath)", record: record, module: module,
                        directory: configuration.directory(of: module), source: "\(listSource)/\(listPath)")
                } catch {
                    throw SyncError("refusing the list of module \(module): \(error); nothing was changed")
                }
                guard change.entries > 0 else {
                    throw SyncError(
                        "refusing the list of module \(module) (\(listSource)/\(listPath)): its [Files] section is empty; "
                            + "nothing was changed")
                }
                changes[listPath] = change
                modules.append(change.lists)
                installs.append(listPath)
                summary.changedModules.append(module)
                continue
            }
            let bytes: [UInt8]
            do {
                bytes = try ListFile.read("\(staging)/\(listPath)")
            } catch {
                throw SyncError("no list for module \(module) at \(listSource)/\(listPath)")
            }
            let installed = "\(destination)/\(listPath)"
            // Byte-identical to the list installed by the last successful run, which was
            // read as strictly then: nothing to do for this module.
            if !alwaysCheck, ListFile.contentsEqual(installed, bytes) {
                // Unchanged modules still count in the share a run may delete: the guard is
                // about the whole mirror, not the one module that changed.
                unchangedEntries += bytes.lazy.filter { $0 == 0x0A }.count
                continue
            }
            let lists: ModuleLists
            do {
                lists = try ListPair.read(
                    module: module, directory: configuration.directory(of: module), new: bytes,
                    source: "\(listSource)/\(listPath)", oldFile: installed)
            } catch {
                throw SyncError("refusing the list of module \(module): \(error); nothing was changed")
            }
            guard lists.new.count > 0 else {
                throw SyncError(
                    "refusing the list of module \(module) (\(listSource)/\(listPath)): its [Files] section is empty; "
                        + "nothing was changed")
            }
            modules.append(lists)
            installs.append(listPath)
            fullLists[listPath] = lists.new
            summary.changedModules.append(module)
        }
        guard !modules.isEmpty else {
            if !dryRun { try saveETags(etags) }
            return summary
        }
        if collectDirectories || allDirectoryTimes {
            summary.directories = Dictionary(
                uniqueKeysWithValues: modules.map { ($0.module, Self.directories(of: $0, planner: planner)) })
        }

        // 2. The plan.
        planner.since = lastRun
        let extras =
            modules.flatMap { configuration.extraFilePaths(of: $0.module) }
            + (configuration.mirrorBuffet ? [Self.buffetExtra] : [])
        planner.keep = Set(
            (listPaths + modulesToSync.flatMap { configuration.extraFilePaths(of: $0) } + [Self.buffetExtra]).map {
                Array($0.utf8)
            })
        var local: [String: [FileListEntry]] = [:]
        if alwaysCheck {
            for module in modules {
                local[module.module] = LocalState.entries(below: "\(destination)/\(module.directory)")
            }
        }
        var plan = planner.plan(modules, local: local)
        plan.localEntries += unchangedEntries
        if noDeletions { plan.deletions = [] }
        if let refusal = guardRule.refusal(deleting: plan.deletions.count, of: plan.localEntries) {
            throw SyncError(refusal)
        }
        summary.transferred = plan.transfers.count
        summary.deleted = plan.deletions.count
        if dryRun {
            for path in plan.transfers.prefix(50) { logger.info("would transfer \(String(decoding: path, as: UTF8.self))") }
            for path in extras { logger.info("would transfer \(path)") }
            for path in plan.deletions.prefix(50) { logger.info("would delete \(String(decoding: path, as: UTF8.self))", metadata: ["item": "d"]) }
            return summary
        }
        try unfinished.mark(started: started)

        // 3. The transfer: one rsync for every module, so hard links between modules stay
        // links. Then the extra files, which upstream may not have for every module.
        // A path the list names that upstream no longer has was removed or renamed there
        // after the list was made (a live tree, or a tier that applied a newer list):
        // rsync skips it rather than failing with code 23, which MAXRETRIES would retry for
        // minutes with the same stale list; the next list says what became of it. A
        // transfer that finds none of its paths is an upstream that is not the tree its
        // lists describe, and fails before anything is deleted or installed.
        if !plan.transfers.isEmpty {
            let filesFrom = "\(staging)/transfer"
            try Self.writeLines(plan.transfers, to: filesFrom)
            summary.add(
                try rsync.transfer(
                    source: source, destination: destination, filesFrom: filesFrom, missingAllowed: true, logger: logger))
            let gone = plan.transfers.lazy.filter { !Self.present($0, below: destination) }.count
            if gone > 0 && gone == plan.transfers.count {
                throw SyncError(
                    "upstream \(source) has none of the \(gone) paths its lists name: is it the tree they describe? "
                        + "nothing was deleted or installed")
            }
            if gone > 0 {
                let message =
                    "\(gone) of \(plan.transfers.count) listed paths were gone upstream when rsync asked for them "
                    + "(changed since the list was made); the next list says what became of them"
                logger.warning("\(message)")
            }
        }
        if !extras.isEmpty {
            let filesFrom = "\(staging)/extras"
            try Self.writeLines(extras.map { Array($0.utf8) }, to: filesFrom)
            summary.add(
                try rsync.transfer(
                    source: source, destination: destination, filesFrom: filesFrom, missingAllowed: true, logger: logger))
        }

        // 4. Checksums: a mismatch is fetched again with --checksum, once.
        let transferred = Set(plan.transfers)
        let toVerify = plan.checksums.filter { transferred.contains($0.path) || alwaysCheck }
        var mismatched = toVerify.filter {
            !Self.sha1Matches("\(destination)/\(String(decoding: $0.path, as: UTF8.self))", $0.hex)
        }
        if !mismatched.isEmpty {
            logger.warning("\(mismatched.count) checksum mismatches; fetching those files again")
            let filesFrom = "\(staging)/repair"
            try Self.writeLines(mismatched.map(\.path), to: filesFrom)
            summary.add(
                try rsync.transfer(
                    source: source, destination: destination, filesFrom: filesFrom, checksum: true,
                    missingAllowed: true, logger: logger))
            // A file still absent is gone upstream (above), not wrong.
            mismatched = mismatched.filter {
                Self.present($0.path, below: destination)
                    && !Self.sha1Matches("\(destination)/\(String(decoding: $0.path, as: UTF8.self))", $0.hex)
            }
            guard mismatched.isEmpty else {
                throw SyncError(
                    "checksum still wrong after a second fetch: "
                        + mismatched.map { String(decoding: $0.path, as: UTF8.self) }.joined(separator: " "))
            }
        }
        summary.verified = toVerify.count

        // 5. Deletions, deepest first, never through a symlink.
        let rootFD = try FileDescriptorHandle(path: destination)
        let removal = SafeRemoval(root: rootFD.descriptor)
        // The run that stopped may have left rsync's staging directories (.~tmp~, which
        // no list names) with files in them; gone, they keep no directory from going.
        if resuming {
            let swept = modules.reduce(0) { $0 + removal.sweepStaging(below: Array($1.directory.utf8)) }
            if swept > 0 {
                logger.info(
                    "removed \(swept) staging director\(swept == 1 ? "y" : "ies") (.~tmp~) left by the run that stopped",
                    metadata: ["item": "d"])
            }
        }
        let moduleDirectories = modules.map { (module: $0.module, prefix: Array($0.directory.utf8) + [0x2F]) }
        for path in plan.deletions {
            do {
                switch try removal.remove(path) {
                case .notEmpty: summary.keptNotEmpty += 1
                case .absent: break
                case .removed:
                    if let owner = moduleDirectories.first(where: { path.starts(with: $0.prefix) }) {
                        summary.deletedByModule[owner.module, default: 0] += 1
                    }
                }
            } catch {
                // Said whatever -d is: a file upstream removed is still served from here.
                summary.deleted -= 1
                logger.error("cannot delete \(String(decoding: path, as: UTF8.self)): \(error)", metadata: ["item": "E"])
            }
        }
        // -N leaves the old lists, so that the next run deletes what this one did not.
        guard !noDeletions else { return summary }

        // 6. The lists, last, as rsync fetched them (upstream's mode and time): a rename
        // of the staged copy within the destination's file system.
        for listPath in installs {
            try Self.install("\(staging)/\(listPath)", at: "\(destination)/\(listPath)")
        }

        // 7. Directory times (KEEPDIRTIMES): deleting an entry, or installing a list,
        // changed its directory's time; rsync sets it back to upstream's.
        if configuration.keepDirectoryTimes || allDirectoryTimes {
            var directories = Set<String>()
            for path in plan.deletions.map({ String(decoding: $0, as: UTF8.self) }) + installs + extras {
                var parent = Substring(path)
                while let slash = parent.lastIndex(of: "/") {
                    parent = parent[..<slash]
                    directories.insert(String(parent))
                }
            }
            if allDirectoryTimes { for (_, list) in summary.directories { directories.formUnion(list) } }
            if !directories.isEmpty {
                let filesFrom = "\(staging)/directories"
                try Self.writeLines(directories.sorted().map { Array($0.utf8) }, to: filesFrom)
                logger.info("updating the times of \(directories.count) directories", metadata: ["item": "d"])
                summary.add(
                    try rsync.transfer(
                        source: source, destination: destination, filesFrom: filesFrom, missingAllowed: true,
                        logger: logger))
            }
        }
        let nextSince = started - (noParanoia ? 0 : 5)
        try LastRun.write(nextSince, to: configuration.effectiveTimeFile)
        try saveETags(etags)
        saveRecords(
            listPaths: listPaths, nextSince: nextSince, arrivals: arrivals, records: records, changes: changes,
            fullLists: fullLists)
        unfinished.clear()
        return summary
    }

    /// Whether a list that came as a delta applied in place is planned from the change
    /// alone. Not with `-a` (the tree is compared), `--dir-times` or a check-in (every
    /// directory is wanted), nor when the last run's time is older than the recorded
    /// recent lines reach (`-t`, `-T`): then the whole list is read.
    private func plansFromChanges(record: InstalledListRecord, lastRun: Int64?) -> Bool {
        guard !alwaysCheck, !collectDirectories, !allDirectoryTimes, let lastRun, let recent = record.recentSince
        else { return false }
        return lastRun >= recent
    }

    /// After the lists are installed: what the next run needs to take a delta at the cost
    /// of the change. A record that cannot be written costs the next run a whole read, not
    /// its correctness: it is said, and the run stands.
    private func saveRecords(
        listPaths: [String], nextSince: Int64, arrivals: [String: HTTPListFetcher.Arrival],
        records: [String: InstalledListRecord], changes: [String: DeltaChange], fullLists: [String: CompactFileList]
    ) {
        guard configuration.httpListSource != nil else { return }
        let destination = configuration.destination
        var saved: [InstalledListRecord] = []
        for path in listPaths {
            let arrival = arrivals[path]
            let digest = arrival?.etag.flatMap { EntityTag($0)?.listDigest }
            if let change = changes[path], let applied = arrival?.applied {
                let recent = records[path]?.recentSince.map { $0 <= nextSince } == true
                    ? (nextSince, change.recentLines(since: nextSince)) : nil
                saved += [
                    InstalledListRecord.installed(
                        path: path, destination: destination, digest: digest, entries: change.entries,
                        segments: applied.segments, recent: recent, delta: applied.delta.encoded())
                ].compactMap { $0 }
            } else if let new = fullLists[path] {
                var lines: [UInt8] = []
                for index in 0..<new.count where new.time(index) >= nextSince { lines += new.line(index) }
                saved += [
                    InstalledListRecord.installed(
                        path: path, destination: destination, digest: digest, entries: new.count,
                        segments: arrival?.segments, recent: (nextSince, lines),
                        delta: arrival?.applied?.delta.encoded())
                ].compactMap { $0 }
            } else if var record = records[path] {
                // Not installed again: its recent lines are those still recent.
                if let since = record.recentSince, since <= nextSince {
                    record.recentLines = Self.lines(record.recentLines, since: nextSince)
                    record.recentSince = nextSince
                } else {
                    record.recentSince = nil
                }
                record.delta = nil
                saved.append(record)
            }
        }
        do {
            try InstalledLists.save(saved, timeFile: configuration.effectiveTimeFile, destination: destination)
        } catch {
            logger.warning("cannot record the installed lists (the next delta reads them whole): \(error)")
        }
    }

    /// The lines (each a `[Files]` line with its newline) whose time is at least `since`.
    static func lines(_ lines: [UInt8], since: Int64) -> [UInt8] {
        var kept: [UInt8] = []
        for line in lines.split(separator: 0x0A) {
            let time = line.prefix { $0 != 0x09 }
            if let value = Int64(String(decoding: time, as: UTF8.self)), value >= since {
                kept += line
                kept.append(0x0A)
            }
        }
        return kept
    }

    /// `--refresh`: every path of every module's list that matches is fetched again,
    /// compared by content; nothing is deleted, installed or recorded.
    private func refetch(
        matching expression: NSRegularExpression, listPaths: [String], staging: String, planner: TransferPlanner
    ) throws -> SyncSummary {
        var summary = SyncSummary()
        summary.dryRun = dryRun
        var paths: [[UInt8]] = []
        for (module, listPath) in zip(configuration.effectiveModules, listPaths) {
            let bytes = try ListFile.read("\(staging)/\(listPath)")
            let list: CompactFileList
            do {
                list = try CompactFileList(validating: bytes, source: listPath)
            } catch {
                throw SyncError("refusing the list of module \(module): \(error); nothing was changed")
            }
            let prefix = Array(configuration.directory(of: module).utf8) + [0x2F]
            var matched = 0
            for index in 0..<list.count where planner.isMirrored(list.type(index), prefix: prefix, path: list.path(index)) {
                let path = prefix + list.path(index)
                let text = String(decoding: path, as: UTF8.self)
                guard expression.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil else { continue }
                paths.append(path)
                matched += 1
            }
            if matched > 0 { summary.changedModules.append(module) }
        }
        summary.transferred = paths.count
        if dryRun {
            for path in paths.prefix(50) { logger.info("would refresh \(String(decoding: path, as: UTF8.self))") }
            return summary
        }
        if !paths.isEmpty {
            let filesFrom = "\(staging)/refresh"
            try Self.writeLines(paths, to: filesFrom)
            summary.add(
                try rsync.transfer(
                    source: source, destination: configuration.destination, filesFrom: filesFrom, checksum: true,
                    logger: logger))
        }
        return summary
    }

    /// The module's mirrored directories, as paths below the master module: what a
    /// MirrorManager check-in reports.
    static func directories(of lists: ModuleLists, planner: TransferPlanner) -> [String] {
        let prefix = Array(lists.directory.utf8) + [0x2F]
        var result: [String] = []
        for index in 0..<lists.new.count where lists.new.type(index).kind == .directory {
            let path = lists.new.path(index)
            guard planner.isMirrored(lists.new.type(index), prefix: prefix, path: path) else { continue }
            result.append(path.elementsEqual(".".utf8) ? lists.directory : String(decoding: prefix + path, as: UTF8.self))
        }
        return result
    }

    /// The directories to report for the installed lists (`--checkin-only`).
    public func installedDirectories() throws -> [String: [String]] {
        let filter = try Self.regularExpression(configuration.filterExpression, key: "FILTEREXP")
        let planner = TransferPlanner(preBitflip: configuration.preBitflip, filter: filter)
        var result: [String: [String]] = [:]
        for (module, listPath) in zip(configuration.effectiveModules, listPaths) {
            let path = "\(configuration.destination)/\(listPath)"
            let lists: ModuleLists
            do {
                lists = ModuleLists(
                    module: module, directory: configuration.directory(of: module),
                    new: try CompactFileList(validating: try ListFile.read(path), source: path), old: nil)
            } catch {
                throw SyncError("cannot check in \(module): \(error)")
            }
            result[module] = Self.directories(of: lists, planner: planner)
        }
        return result
    }

    static func regularExpression(_ pattern: String?, key: String) throws -> NSRegularExpression? {
        guard let pattern else { return nil }
        do {
            return try NSRegularExpression(pattern: pattern)
        } catch {
            throw SyncError("\(key) '\(pattern)' is not a valid regular expression")
        }
    }

    static func writeLines(_ paths: [[UInt8]], to file: String) throws {
        var text: [UInt8] = []
        for path in paths {
            text += path
            text.append(0x0A)
        }
        try Data(text).write(to: URL(fileURLWithPath: file))
    }

    /// Renames a staged file into place, creating its directory on a first run. The
    /// directory keeps the time rsync gave it (upstream's): a rename is a change to it.
    static func install(_ staged: String, at target: String) throws {
        let directory = (target as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // Durable before it is named: a crash must not leave the installed list with
        // holes, which the next run's record of it would take for its bytes.
        do throws(SystemCallError) {
            let file = try Linux.openat(nil, staged, flags: O_RDONLY)
            defer { try? file.close() }
            try Linux.fdatasync(file, displayPath: staged)
        } catch {
            throw SyncError("cannot install \(target): \(error)")
        }
        let before = Linux.statPath(directory)
        do {
            try Linux.rename(staged, over: target)
        } catch {
            throw SyncError("cannot install \(target): rename: \(error.errno)")
        }
        if let before {
            // Only the directory's time is at stake (KEEPDIRTIMES sets it again), never the content.
            try? Linux.setTimes(directory, access: before.st_atim, modification: before.st_mtim)
        }
    }

    /// After the lists they describe are installed: the next run's conditional GETs.
    private func saveETags(_ etags: [String: String]) throws {
        guard configuration.httpListSource != nil else { return }
        try SavedETags.save(etags, timeFile: configuration.effectiveTimeFile, destination: configuration.destination)
    }

    /// Whether `path` (bytes, relative to `root`) is there, itself (a symlink not followed).
    static func present(_ path: [UInt8], below root: String) -> Bool {
        var info = stat()
        let full = Array(root.utf8) + [0x2F] + path + [0]
        return full.withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { lstat($0.baseAddress!, &info) == 0 }
        }
    }

    static func sha1Matches(_ path: String, _ hex: String) -> Bool {
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: path)) else { return false }
        return Insecure.SHA1.hash(data: data).map { String(format: "%02x", $0) }.joined() == hex
    }
}
