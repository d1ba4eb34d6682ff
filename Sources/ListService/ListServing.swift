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
    public static func run(
        catalog: ListCatalog, configuration: ListServer.Configuration, logger: Logger,
        loop: @escaping @Sendable () throws -> Void
    ) throws {
        let (listening, listeningSink) = AsyncStream.makeStream(of: Void.self)
        let application = ListServer.buildApplication(catalog: catalog, configuration: configuration, logger: logger) {
            port in
            logger.info(
                "serving HTTP",
                metadata: [
                    "address": "\(configuration.host):\(port)", "lists": "\(catalog.lists.joined(separator: " "))",
                ])
            listeningSink.yield()
            listeningSink.finish()
        }
        // The group's own messages are for debugging; failures come back as one error.
        var groupLogger = logger
        groupLogger.logLevel = .critical
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [
                    .init(service: application),
                    .init(service: ChangeStreamCloser(catalog: catalog)),
                    .init(
                        service: BlockingLoop(body: loop, startWhen: listening),
                        successTerminationBehavior: .gracefullyShutdownGroup),
                ],
                gracefulShutdownSignals: [], cancellationSignals: [], logger: groupLogger))
        let outcome = Mutex<Result<Void, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            do {
                try await group.run()
                outcome.withLock { $0 = .success(()) }
            } catch {
                outcome.withLock { $0 = .failure(error) }
            }
            done.signal()
        }
        done.wait()
        do {
            try outcome.withLock { $0 ?? .success(()) }.get()
        } catch let error as IOError {
            throw ListServiceError(listenFailure: error, configuration: configuration)
        }
    }
}

extension ListServiceError {
    init(listenFailure error: IOError, configuration: ListServer.Configuration) {
        let address =
            configuration.host.contains(":")
            ? "[\(configuration.host)]:\(configuration.port)" : "\(configuration.host):\(configuration.port)"
        let reason =
            error.errnoCode == EADDRINUSE
            ? "address already in use (another filelistd or web server?)"
            : String(cString: strerror(error.errnoCode)).lowercased()
        self.init("cannot listen on \(address): \(reason)")
    }
}

/// Ends every change stream when the group shuts down: an open `/events` response
/// would otherwise keep the server from stopping.
struct ChangeStreamCloser: Service {
    let catalog: ListCatalog

    func run() async {
        try? await gracefulShutdown()
        catalog.close()
    }
}

/// A synchronous event loop on a thread of its own (it blocks in poll(2)), started once
/// `startWhen` yields; it returns when the loop does.
struct BlockingLoop: Service {
    let body: @Sendable () throws -> Void
    let startWhen: AsyncStream<Void>

    func run() async throws {
        var ready = false
        for await _ in startWhen {
            ready = true
            break
        }
        guard ready, !Task.isCancelled else { return }
        let body = self.body
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            Thread.detachNewThread {
                do {
                    try body()
                    continuation.resume()
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }
}
