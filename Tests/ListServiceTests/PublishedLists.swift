import FileList
import Foundation
import Hummingbird
import ListService
import Logging
import Monitoring
import Publish
import ListProtocol
import TreeFixtures

#if canImport(Glibc)
    import Glibc
#endif

/// An origin's lists as the daemon hands them to its HTTP side: each generation written
/// beside its target, renamed into place, then installed in the catalog with the digest
/// its writer computed (`Daemon.publish` -> `ListCatalog.install`), all in-process.
///
/// Two lists are served: `fullfiletimelist`, which `publish` writes, and (unless told
/// otherwise) `pub/fullfiletimelist-pub`, which no generation ever holds: a list not read yet.
final class PublishedLists: Sendable {
    static let list = "fullfiletimelist"
    static let unread = "pub/fullfiletimelist-pub"
    /// Files in the list: enough lines that a one-line delta is far below half of it,
    /// the size above which the server sends the whole list instead.
    static let fileCount = 100

    let tree: TemporaryTree
    let health = PublishHealth()
    let catalog: ListCatalog

    /// `unread`: whether the catalog also serves the list that is never published.
    init(unread: Bool = true) throws {
        tree = try TemporaryTree("list-service")
        var logger = Logger(label: "list-service-tests")
        logger.logLevel = .error
        var served = [(path: Self.list, file: tree.path(Self.list))]
        if unread { served.append((path: Self.unread, file: tree.path(Self.unread))) }
        catalog = ListCatalog(lists: served, host: "origin.test", logger: logger, publisher: health)
    }

    /// The application `filelistd --http` runs, on an ephemeral loopback port.
    func application() -> some ApplicationProtocol {
        var logger = Logger(label: "list-service-tests")
        logger.logLevel = .error
        return ListServer.buildApplication(
            catalog: catalog, configuration: ListServer.Configuration(host: "127.0.0.1", port: 0), logger: logger)
    }

    /// A valid list of `pub` and its files; `touched` gets a later time.
    static func content(touched: Int? = nil) -> [UInt8] {
        var out: [UInt8] = []
        FileListFormat.appendHeader(to: &out)
        FileListFormat.appendLine(
            FileListEntry(time: 1_700_000_000, type: EntryType(.directory), size: 4096, path: "pub"), to: &out)
        for index in 0..<fileCount {
            FileListFormat.appendLine(
                FileListEntry(
                    time: index == touched ? 1_800_000_000 : 1_700_000_000 + Int64(index), type: EntryType(.file),
                    size: Int64(1000 + index), path: String(format: "pub/file-%03d", index)),
                to: &out)
        }
        FileListFormat.appendTrailer(checksums: [], to: &out)
        return out
    }

    /// Publishes `bytes` as generation `generation` of `fullfiletimelist`, as the daemon
    /// does: renamed over the old list, then handed over with its digest. Returns the digest.
    @discardableResult
    func publish(_ bytes: [UInt8], generation: Int) throws -> String {
        let staged = try tree.bytesFile(Self.list + ".new", bytes)
        guard rename(staged, tree.path(Self.list)) == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        let digest = ListDigest.hex(of: bytes)
        health.publishSucceeded()
        catalog.install(
            Publication(generation: generation, files: [Publication.File(target: tree.path(Self.list), digest: digest)])
        )
        return digest
    }
}
