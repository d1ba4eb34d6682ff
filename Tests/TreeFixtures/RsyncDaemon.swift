import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A real `rsync --daemon` on 127.0.0.1 serving one module, for one test; stopped when
/// the test is done with it.
public final class RsyncDaemon: @unchecked Sendable {
    public let port: Int
    public let process: Process
    private let directory: TemporaryTree

    /// Serves `path` as the rsync module `module` on a free loopback port.
    public init(module: String, path: String) throws {
        directory = try TemporaryTree("rsyncd")
        var lastError: Error?
        for _ in 0..<20 {
            let port = Int.random(in: 20_000...60_000)
            let config = directory.path("rsyncd.conf")
            try """
            use chroot = no
            log file = \(directory.path("rsyncd.log"))
            pid file = \(directory.path("rsyncd.pid"))
            [\(module)]
                path = \(path)
                read only = yes
                uid = root
                gid = root
            """.write(toFile: config, atomically: true, encoding: .utf8)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/rsync")
            process.arguments = [
                "--daemon", "--no-detach", "--config=\(config)", "--address=127.0.0.1", "--port=\(port)",
            ]
            process.standardError = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            if Self.waitForListener(port: port, process: process) {
                self.port = port
                self.process = process
                return
            }
            process.terminate()
            process.waitUntilExit()
            lastError = POSIXError(.EADDRINUSE)
        }
        throw lastError ?? POSIXError(.EIO)
    }

    deinit {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    public var url: String { "rsync://127.0.0.1:\(port)" }

    static func waitForListener(port: Int, process: Process) -> Bool {
        for _ in 0..<100 where process.isRunning {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            close(fd)
            if connected == 0 { return true }
            usleep(50_000)
        }
        return false
    }
}
