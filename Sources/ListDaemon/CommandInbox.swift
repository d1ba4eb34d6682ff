import DaemonControl
import LinuxCalls
import Synchronization
import SystemPackage

/// Commands for the daemon from other threads (the HTTP side's `POST /rescan`): queued
/// here, and carried out on the daemon's own thread, which polls `descriptor`, between
/// two publishes, as the control socket's are.
public final class CommandInbox: Sendable {
    private let counter: EventCounter
    private let pending = Mutex<[(ControlCommand, CheckedContinuation<String, Never>)]>([])

    public init() throws(DaemonError) {
        do {
            counter = try EventCounter()
        } catch {
            throw DaemonError("cannot make the command inbox: \(error)")
        }
    }

    var descriptor: FileDescriptor { counter.descriptor }

    /// The daemon's reply to `command`, once it has carried it out.
    public func submit(_ command: ControlCommand) async -> String {
        await withCheckedContinuation { continuation in
            pending.withLock { $0.append((command, continuation)) }
            counter.signal()
        }
    }

    /// The commands queued so far.
    func take() -> [(ControlCommand, CheckedContinuation<String, Never>)] {
        counter.reset()
        return pending.withLock { queued in
            defer { queued.removeAll() }
            return queued
        }
    }
}
