import ConnectionGuard
import ListProtocol
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOExtras
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

#if canImport(Glibc)
    import Glibc
#endif

/// filelistd's HTTP side on listening sockets it was given (systemd's socket activation)
/// rather than an address it binds. Hummingbird's `Application` can only bind an address
/// itself, so this takes the application `ListServer.buildApplication` makes, and runs
/// its responder and the same per-connection handlers (`ListFastPath` in front of
/// HTTP/1.1) on a server channel made from each descriptor. Every route, header and
/// status is therefore the one the address-bound server gives.
struct InheritedSocketServer<App: ApplicationProtocol>: Service {
    let application: App
    let catalog: ListCatalog
    /// `POST /rescan`, as the address-bound server has it.
    var rescan: RemoteRescan?
    let gate: ConnectionGate
    /// Listening stream sockets; the server channels own them from here on.
    let descriptors: [CInt]
    /// Called once every socket is being served, with the addresses they listen on.
    let onListening: @Sendable ([SocketAddress]) async -> Void

    func run() async throws {
        let logger = application.logger
        let connections = try await connectionHandler(logger: logger)
        let eventLoopGroup = application.eventLoopGroup
        var bound: [(channel: NIOAsyncChannel<HTTP1Channel.Value, Never>, quiescing: ServerQuiescingHelper)] = []
        for descriptor in descriptors {
            // Stopping means: accept no more, let each connection finish the response it is
            // writing, then close it; the helper tracks the connections of its socket.
            let quiescing = ServerQuiescingHelper(group: eventLoopGroup)
            let channel = try await ServerBootstrap(group: eventLoopGroup)
                .serverChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            quiescing.makeServerChannelHandler(channel: channel))
                    }
                }
                .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
                .bind(descriptor) { channel in connections.setup(channel: channel, logger: logger) }
            bound.append((channel, quiescing))
        }
        let listeners = bound
        await withGracefulShutdownHandler {
            await onListening(listeners.compactMap { $0.channel.channel.localAddress })
            await withDiscardingTaskGroup { group in
                for listener in listeners {
                    group.addTask {
                        await withDiscardingTaskGroup { handling in
                            do {
                                try await listener.channel.executeThenClose { accepted in
                                    for try await connection in accepted {
                                        handling.addTask { await connections.handle(value: connection, logger: logger) }
                                    }
                                }
                            } catch {
                                logger.error("accepting HTTP connections failed", metadata: ["error": "\(error)"])
                            }
                        }
                    }
                }
            }
        } onGracefulShutdown: {
            for listener in listeners { listener.quiescing.initiateShutdown(promise: nil) }
        }
    }

    /// HTTP/1.1 on one accepted connection, answering as `Application.run` answers: the
    /// responder's response (500 for an error that is not the client's malformed
    /// request), with the Date and Server headers.
    private func connectionHandler(logger: Logger) async throws -> GuardedChannel<HTTP1Channel> {
        let responder = try await application.responder
        let serverName = application.configuration.serverName
        let catalog = catalog
        let http1 = HTTP1Channel(
            responder: { request, writer, channel in
                let context = App.Context(source: .init(channel: channel, logger: logger))
                var response: Response
                do {
                    response = try await responder.respond(to: request, context: context)
                } catch let error as HTTPParserError {
                    // HTTP1Channel answers a malformed request with 400 and closes.
                    throw error
                } catch {
                    logger.debug("request failed", metadata: ["error": "\(error)"])
                    response = Response(status: .internalServerError)
                }
                response.headers[.date] = HTTPDate.format(secondsSinceEpoch: time(nil))
                if let serverName { response.headers[.server] = serverName }
                do {
                    try await writer.write(response: response.head, body: response.body)
                } catch is HTTPParserError {
                    // Thrown on, a parser error would make HTTP1Channel write a second response.
                    throw InheritedSocketServerError.malformedRequestWhileResponding
                }
            },
            configuration: .init(
                additionalChannelHandlers: ListServer.connectionHandlers(
                    catalog: catalog, serverName: serverName ?? ListServer.serverName, rescan: rescan)))
        return GuardedChannel(inner: http1, gate: gate)
    }
}

enum InheritedSocketServerError: Error {
    case malformedRequestWhileResponding
}
