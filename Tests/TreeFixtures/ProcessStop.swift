import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

extension Process {
    /// SIGTERM, then up to `timeout` for the exit. A process still running then is killed
    /// and the test fails naming it: a daemon that ignores SIGTERM is a bug to report, not
    /// a suite that hangs (`waitUntilExit` waits forever, and spins while it does).
    public func terminate(
        within timeout: Duration = .seconds(20), sourceLocation: SourceLocation = #_sourceLocation
    ) {
        guard isRunning else { return }
        kill(processIdentifier, SIGTERM)
        if DaemonProcess.wait(timeout: timeout, until: { !isRunning }) { return }
        kill(processIdentifier, SIGKILL)
        Issue.record(
            "\(executableURL?.lastPathComponent ?? "the process") (pid \(processIdentifier)) did not exit within \(timeout) of SIGTERM",
            sourceLocation: sourceLocation)
        _ = DaemonProcess.wait(timeout: .seconds(5), until: { !isRunning })
    }
}
