import Crypto
import FileList
import Foundation
import Publish

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
    public var noDeletions = false
    /// Overrides the last successful run's time (`-t`); `backdate` is subtracted (`-T`).
    public var since: Int64?
    public var backdate: Int64 = 0
    public var maxDeleteShare = 0.1
    public var allowMassDelete = false
    public var rsync: Rsync
    public var log: @Sendable (String) -> Void

    public init(configuration: ClientConfiguration, log: @escaping @Sendable (String) -> Void) {
        self.configuration = configuration
        self.log = log
        rsync = Rsync(
            timeout: configuration.rsyncTimeout, extraOptions: configuration.rsyncOptions,
            maxRetries: configuration.maxRetries)
    }

    var source: String {
        configuration.masterModule.isEmpty
            ? configuration.remote : "\(configuration.remote)/\(configuration.masterModule)"
    }

    public func run() throws -> SyncSummary {
        let started = Int64(Date().timeIntervalSince1970)
        let destination = configuration.destination
        guard !destination.isEmpty else { throw SyncError("DESTD is not set") }
        try FileManager.default.createDirectory(atPath: destination, withIntermediateDirectories: true)
        let staging = "\(destination)/.quick-mirror-staging"
        try? FileManager.default.removeItem(atPath: staging)
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: staging) }

        // 1. The lists, into staging. Each must parse strictly before anything else happens.
        let listPaths = configuration.modules.map {
            "\(configuration.directory(of: $0))/\(configuration.fileListName(of: $0))"
        }
        var summary = SyncSummary()
        summary.dryRun = dryRun
        let listSource = configuration.listSource ?? source
        var etags: [String: String] = [:]
        if let base = configuration.httpListSource {
            let saved = SavedETags.load(timeFile: configuration.effectiveTimeFile, destination: destination)
            let fetcher = HTTPListFetcher(
                base: base, timeout: configuration.rsyncTimeout, maxRetries: configuration.maxRetries,
                firstBackoff: rsync.firstBackoff, log: log)
            for path in listPaths {
                let (etag, outcome) = try fetcher.fetch(
                    path, installed: "\(destination)/\(path)", savedETag: saved[path], into: "\(staging)/\(path)")
                etags[path] = etag
                switch outcome {
                case .unchanged: summary.listFetches[path] = "unchanged"
                case .delta(let edits): summary.listFetches[path] = "delta of \(edits) edit\(edits == 1 ? "" : "s")"
                case .whole: summary.listFetches[path] = "whole list"
                }
            }
        } else {
            do {
                try rsync.fetch(source: listSource, paths: listPaths, into: staging, log: log)
            } catch {
                throw SyncError("cannot fetch the file lists from \(listSource): \(error)")
            }
        }
        var modules: [ModuleLists] = []
        var unchangedEntries = 0
        var newBytes: [String: [UInt8]] = [:]
        for (module, listPath) in zip(configuration.modules, listPaths) {
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
            newBytes[listPath] = bytes
            summary.changedModules.append(module)
        }
        guard !modules.isEmpty else {
            if !dryRun { try saveETags(etags) }
            return summary
        }

        // 2. The plan.
        let lastRun =
            since
            ?? (try? String(contentsOfFile: configuration.effectiveTimeFile, encoding: .utf8))
            .flatMap { Int64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        var filter: NSRegularExpression?
        if let expression = configuration.filterExpression {
            do {
                filter = try NSRegularExpression(pattern: expression)
            } catch {
                throw SyncError("FILTEREXP '\(expression)' is not a valid regular expression")
            }
        }
        var planner = TransferPlanner(
            preBitflip: configuration.preBitflip, filter: filter, since: lastRun.map { $0 - backdate })
        planner.keep = Set(listPaths.map { Array($0.utf8) } + configuration.extraFiles.map { Array($0.utf8) })
        var local: [String: [FileListEntry]] = [:]
        if alwaysCheck {
            for module in modules {
                local[module.module] = LocalState.entries(below: "\(destination)/\(module.directory)")
            }
        }
        var plan = planner.plan(modules, local: local)
        plan.localEntries += unchangedEntries
        for extra in configuration.extraFiles { plan.transfers.append(Array(extra.utf8)) }
        if noDeletions { plan.deletions = [] }
        if plan.deletionShare > maxDeleteShare && !allowMassDelete {
            throw SyncError(
                "refusing to delete \(plan.deletions.count) of \(plan.localEntries) entries "
                    + "(\(Int(plan.deletionShare * 100))%, more than \(Int(maxDeleteShare * 100))%): "
                    + "check upstream, or run with --allow-mass-delete; nothing was changed")
        }
        summary.transferred = plan.transfers.count
        summary.deleted = plan.deletions.count
        if dryRun {
            for path in plan.transfers.prefix(50) { log("would transfer \(String(decoding: path, as: UTF8.self))") }
            for path in plan.deletions.prefix(50) { log("would delete \(String(decoding: path, as: UTF8.self))") }
            return summary
        }

        // 3. The transfer: one rsync for every module, so hard links between modules stay links.
        if !plan.transfers.isEmpty {
            let filesFrom = "\(staging)/transfer"
            var text: [UInt8] = []
            for path in plan.transfers {
                text += path
                text.append(0x0A)
            }
            try Data(text).write(to: URL(fileURLWithPath: filesFrom))
            try rsync.transfer(source: source, destination: destination, filesFrom: filesFrom, log: log)
        }

        // 4. Checksums: a mismatch is fetched again with --checksum, once.
        let transferred = Set(plan.transfers)
        let toVerify = plan.checksums.filter { transferred.contains($0.path) || alwaysCheck }
        var mismatched = toVerify.filter {
            !Self.sha1Matches("\(destination)/\(String(decoding: $0.path, as: UTF8.self))", $0.hex)
        }
        if !mismatched.isEmpty {
            log("\(mismatched.count) checksum mismatches; fetching those files again")
            let filesFrom = "\(staging)/repair"
            try Data(mismatched.flatMap { $0.path + [0x0A] }).write(to: URL(fileURLWithPath: filesFrom))
            try rsync.transfer(source: source, destination: destination, filesFrom: filesFrom, checksum: true, log: log)
            mismatched = mismatched.filter {
                !Self.sha1Matches("\(destination)/\(String(decoding: $0.path, as: UTF8.self))", $0.hex)
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
        for path in plan.deletions {
            do {
                if try removal.remove(path) == .notEmpty { summary.keptNotEmpty += 1 }
            } catch {
                log("cannot delete \(String(decoding: path, as: UTF8.self)): \(error)")
            }
        }

        // 6. The lists, last; then the time of this run.
        for (listPath, bytes) in newBytes.sorted(by: { $0.key < $1.key }) {
            let file = try AtomicFile(target: "\(destination)/\(listPath)")
            try file.write(bytes)
            try file.commit(ifChanged: true)
        }
        let timeFile = try AtomicFile(target: configuration.effectiveTimeFile)
        try timeFile.write(Array("\(started)\n".utf8))
        try timeFile.commit()
        try saveETags(etags)
        return summary
    }

    /// After the lists they describe are installed: the next run's conditional GETs.
    private func saveETags(_ etags: [String: String]) throws {
        guard configuration.httpListSource != nil else { return }
        try SavedETags.save(etags, timeFile: configuration.effectiveTimeFile, destination: configuration.destination)
    }

    static func sha1Matches(_ path: String, _ hex: String) -> Bool {
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: path)) else { return false }
        return Insecure.SHA1.hash(data: data).map { String(format: "%02x", $0) }.joined() == hex
    }
}
