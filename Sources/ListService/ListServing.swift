import ConnectionGuard
import Dispatch
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The HTTP server and a list publisher's event loop (the daemon's or the relay's) as
/// one `ServiceGroup`.
///
/// The loop owns the signals (its signalfd): SIGTERM makes it return between two
/// publishes, so the last list is complete. The group then shuts down in reverse order:
/// the change streams end (each client reads a clean end of its stream), then the
/// server stops. The loop starts only once the server listens: a port already in use is
/// one line and an exit, before any scan.
public enum ListServing {
    /// Runs `loop` on the calling thread (the daemon's index is built and kept by the
    /// thread that started it, as without --http), the group on Swift's threads.
    /// With `inheritedSockets` (listening sockets from systemd's socket activation) the
    /// server answers on those and binds nothing; `configuration`'s address is unused.
    public static func run(
        catalog: ListCatalog, configuration: ListServer.Configuration, inheritedSockets: [CInt] = [],
        logger: Logger, loop: () throws -> Void
    ) throws {
        let started = DispatchSemaphore(value: 0)
        let (loopEnded, loopEndedSink) = AsyncStream.makeStream(of: Void.self)
        let listening: @Sendable (String) -> Void = { address in
            logger.info(
                "serving HTTP",
                metadata: [
                    "address": "\(address)", "lists": "\(catalog.lists.joined(separator: " "))",
                    "client_limits": "\(configuration.gate.sizing)",
                ])
            started.signal()
        }
        let server: any Service
        if inheritedSockets.isEmpty {
            server = ListServer.buildApplication(catalog: catalog, configuration: configuration, logger: logger) {
                listening(ListenAddress(host: configuration.host, port: $0).description)
            }
        } else {
            server = InheritedSocketServer(
                application: ListServer.buildApplication(
                    catalog: catalog, configuration: configuration, logger: logger),
                catalog: catalog, rescan: configuration.rescan, gate: configuration.gate, descriptors: inheritedSockets
            ) { addresses in
                listening(addresses.map { "\(hostAndPort($0)) (from systemd)" }.joined(separator: ", "))
            }
        }
        // The group's own messages are for debugging; failures come back as one error.
        var groupLogger = logger
        groupLogger.logLevel = .critical
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [
                    .init(service: server),
                    .init(service: EventStreamCloser(catalog: catalog)),
                    .init(service: LoopEnd(ended: loopEnded), successTerminationBehavior: .gracefullyShutdownGroup),
                ],
                gracefulShutdownSignals: [], cancellationSignals: [], logger: groupLogger))
        let outcome = Mutex<Result<Void, any Error>?>(nil)
        let loopRunning = Mutex(false)
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            var result: Result<Void, any Error> = .success(())
            do { try await group.run() } catch { result = .failure(error) }
            outcome.withLock { $0 = result }
            // A server that stops under a running loop stops the process: systemd sees it fail.
            if case .failure(let error) = result, loopRunning.withLock({ $0 }) {
                logger.critical("the HTTP server stopped", metadata: ["error": "\(error)"])
                exit(1)
            }
            started.signal()
            done.signal()
        }
        started.wait()
        let failedToStart = outcome.withLock { state -> Result<Void, any Error>? in
            if state == nil { loopRunning.withLock { $0 = true } }
            return state
        }
        if let failedToStart {
            try mapped(failedToStart, configuration, inherited: !inheritedSockets.isEmpty)
            return
        }
        var loopFailure: (any Error)?
        do { try loop() } catch { loopFailure = error }
        loopRunning.withLock { $0 = false }
        loopEndedSink.finish()
        done.wait()
        if let loopFailure { throw loopFailure }
        try mapped(outcome.withLock { $0 ?? .success(()) }, configuration, inherited: !inheritedSockets.isEmpty)
    }

    /// `127.0.0.1:8080`, `[::]:8080`: how an operator writes the address.
    static func hostAndPort(_ address: SocketAddress) -> String {
        guard let host = address.ipAddress, let port = address.port else { return "\(address)" }
        return ListenAddress(host: host, port: port).description
    }

    private static func mapped(
        _ result: Result<Void, any Error>, _ configuration: ListServer.Configuration, inherited: Bool
    ) throws {
        do {
            try result.get()
        } catch let error as IOError {
            if inherited {
                throw ListServiceError(
                    "cannot serve on the socket systemd passed: \(String(cString: strerror(error.errnoCode)))")
            }
            throw ListServiceError(listenFailure: error, configuration: configuration)
        }
    }
}

extension ListServiceError {
    init(listenFailure error: IOError, configuration: ListServer.Configuration) {
        let address = ListenAddress(host: configuration.host, port: configuration.port)
        let reason =
            error.errnoCode == EADDRINUSE
            ? "address already in use (another filelistd or web server?)"
            : String(cString: strerror(error.errnoCode)).lowercased()
        self.init("cannot listen on \(address): \(reason)")
    }
}

/// Ends every change stream when the group shuts down: an open `/events` response
/// would otherwise keep the server from stopping.
struct EventStreamCloser: Service {
    let catalog: ListCatalog

    func run() async {
        try? await gracefulShutdown()
        catalog.close()
    }
}

/// Returns when the publisher's loop has ended: the group then shuts down the others.
struct LoopEnd: Service {
    let ended: AsyncStream<Void>

    func run() async {
        for await _ in ended {}
    }
}
