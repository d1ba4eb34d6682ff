import ConnectionGuard
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

/// An origin's lists as the daemon hands them to its HTTP side: each generation built by
/// the daemon's publisher from segments, renamed into place, and installed in the
/// catalog as the version the publisher holds (`ListPublisher` -> `ListCatalog.install`),
/// all in-process.
///
/// Two lists are served: `fullfiletimelist`, which `publish` writes, and (unless told
/// otherwise) `pub/fullfiletimelist-pub`, which no generation ever holds: a list not read yet.
/// Unchecked: `publish` is called from one test task at a time, as the daemon calls its publisher from one thread.
final class PublishedLists: @unchecked Sendable {
    static let list = "fullfiletimelist"
    static let unread = "pub/fullfiletimelist-pub"
    /// Files in the list: enough lines that a one-line delta is far below half of it,
    /// the size above which the server sends the whole list instead.
    static let fileCount = 100

    let tree: TemporaryTree
    let health = PublishHealth()
    let catalog: ListCatalog
    let publisher = ListPublisher(installer: ListInstaller { _ in })

    /// `unread`: whether the catalog also serves the list that is never published.
    init(unread: Bool = true) throws {
        tree = try TemporaryTree("list-service")
        var logger = Logger(label: "list-service-tests")
        logger.logLevel = .error
        catalog = ListCatalog(
            lists: unread ? [Self.list, Self.unread] : [Self.list], host: "origin.test", logger: logger,
            publisher: health)
    }

    /// The application `filelistd --http` runs, on an ephemeral loopback port.
    /// `gate`: the client limits (the defaults unless a test sets its own).
    func application(gate: ConnectionGate = ConnectionGate()) -> some ApplicationProtocol {
        var logger = Logger(label: "list-service-tests")
        logger.logLevel = .error
        var configuration = ListServer.Configuration(host: "127.0.0.1", port: 0)
        configuration.gate = gate
        return ListServer.buildApplication(catalog: catalog, configuration: configuration, logger: logger)
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
    /// does: built from its segments, renamed into place, and handed over with the
    /// generation number given. Returns the digest.
    @discardableResult
    func publish(_ bytes: [UInt8], generation: Int) throws -> String {
        let target = tree.path(Self.list)
        publisher.publish([
            [
                ListPublisher.Render(
                    target: target, path: Self.list,
                    render: { emit in
                        for range in ListSegmentRule.segments(of: bytes) { try emit(.fresh(Array(bytes[range]))) }
                    })
            ]
        ])
        publisher.installer.drain()
        guard let version = publisher.current[target] else { throw POSIXError(.EIO) }
        health.publishSucceeded()
        catalog.install(Publication(generation: generation, files: [Publication.File(path: Self.list, list: version)]))
        return version.digest
    }
}
