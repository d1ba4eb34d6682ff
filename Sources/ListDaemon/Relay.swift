import DaemonControl
import ListProtocol
import Foundation
import Logging
import Publish
import SystemPackage
import Systemd

#if canImport(Glibc)
    import Glibc
#endif

/// `filelistd relay`: serves lists another program installs (quick-mirror, on a mirror
/// that passes its upstream's lists on unchanged), and announces each new generation
/// when that program says so, with the chain of hops it came through.
///
/// Control socket commands (`ControlCommand`): `announce HOPS-JSON` (re-read the lists,
/// announce if they changed; the reply is the announcement), `rescan` (the same with no
/// upstream hops, as SIGHUP) and `status`. Every 10 s it also checks
/// whether a list was replaced without being announced.
public final class Relay {
    let root: String
    let runtimeDirectory: String
    let logger: Logger
    /// The lists, as files below `root` and as served paths.
    let lists: [(target: String, path: String)]
    /// The relay's publisher: the lists' versions (adopted, not written) and its generations.
    public let publisher: ListPublisher
    /// Serves and announces a generation, with the upstream's hops; returns the
    /// announcement when one went out.
    let serve: (Publication, [Hop]) -> Announcement?
    let status: () -> String
    /// Lists said to be unreadable, said once until they can be read again.
    private var unreadable: Set<String> = []

    public init(
        root: String, lists: [String], runtimeDirectory: String, logger: Logger,
        serve: @escaping (Publication, [Hop]) -> Announcement?, status: @escaping () -> String
    ) {
        self.root = root
        self.lists = lists.map { ("\(root)/\($0)", $0) }
        self.runtimeDirectory = runtimeDirectory
        self.logger = logger
        self.serve = serve
        self.status = status
        // A relay writes no list: nothing is ever given to its installer.
        publisher = ListPublisher(installer: ListInstaller { _ in })
    }

    /// Reads the lists that changed and serves the new generation, if there is one.
    /// `records`: quick-mirror's file describing the lists it installed; a list it
    /// describes as it is now is taken from it unread (digest, segments, delta).
    @discardableResult
    public func announce(_ hops: [Hop], records: String? = nil) -> Announcement? {
        var described: [String: InstalledListRecord] = [:]
        if let records {
            if let data = FileManager.default.contents(atPath: records),
                let decoded = InstalledListRecord.decode(Array(data))
            {
                for record in decoded { described["\(root)/\(record.path)"] = record }
            } else {
                logger.debug("the installed lists' records are not readable: lists read whole", metadata: ["records": "\(records)"])
            }
        }
        let (publication, failures) = publisher.adopt(lists, described: described)
        for (path, error) in failures where unreadable.insert(path).inserted {
            logger.warning("list not served", metadata: ["list": "\(path)", "error": "\(error)"])
        }
        unreadable.subtract(unreadable.filter { path in !failures.contains { $0.0 == path } })
        guard let publication else { return nil }
        return serve(publication, hops)
    }

    static let recheck: Duration = .seconds(10)

    private enum LoopInput { case signals, control }

    /// Runs until SIGTERM or SIGINT.
    public func run() throws {
        var configuration = DaemonConfiguration(root: root)
        configuration.runtimeDirectory = runtimeDirectory
        let lock = try TreeLock(root: root)
        let signals = try SignalReader()
        let control = try ControlSocket(path: configuration.controlSocketPath)
        Systemd.notify("READY=1\nSTATUS=Serving the lists below \(root)")
        logger.info("relay ready", metadata: ["root": "\(root)", "control": "\(configuration.controlSocketPath)"])
        var loop = EventLoop<LoopInput>([(.signals, signals.descriptor), (.control, control.descriptor)])
        let clock = ContinuousClock()
        while true {
            // Only 10 quiet seconds bring the re-check: each command or signal starts them again.
            let ready = try loop.wait(timers: [clock.now + Self.recheck])
            if ready.isEmpty {
                // Lists installed without a word (quick-mirror could not reach the socket,
                // the relay was restarting, another tool): found by their new inode, and
                // announced without upstream hops. A stat per list; nothing else.
                _ = announce([])
                continue
            }
            if ready.contains(.signals) {
                for signal in signals.read() {
                    if signal == SIGHUP {
                        _ = announce([])
                        continue
                    }
                    Systemd.notify("STOPPING=1")
                    logger.info("stopping", metadata: ["signal": "\(signal)"])
                    withExtendedLifetime(lock) {}
                    return
                }
            }
            if ready.contains(.control) {
                while let client = control.accept() {
                    defer { try? client.close() }
                    // Hops are a few hundred bytes each; a chain of dozens still fits.
                    let command = ControlSocket.command(from: client, limit: 1 << 16)
                    ControlSocket.reply(handle(command), to: client)
                }
            }
        }
    }

    func handle(_ command: Result<ControlCommand, ControlCommandError>) -> String {
        let hops: [Hop]
        switch command {
        case .success(.status): return status()
        case .success(.announce(let upstream, let records)):
            guard let announcement = announce(upstream, records: records) else { return "unchanged\n" }
            return announcement.json() + "\n"
        // As SIGHUP: the lists are read again, and announced if they changed.
        case .success(.rescan): hops = []
        case .success(.rescanPaths):
            return "error: a relay has no tree to read: rescan re-reads its lists whole\n"
        case .failure(let error): return "error: \(error): use announce HOPS, rescan or status\n"
        }
        guard let announcement = announce(hops) else { return "unchanged\n" }
        return announcement.json() + "\n"
    }
}
