import Foundation
import TreeFixtures

#if canImport(Glibc)
    import Glibc
#endif

/// nginx serving a directory on 127.0.0.1, as a plain mirror serves its lists: ETag and
/// Last-Modified from the file, 304 on a match, gzip when asked. Its access log says
/// what each request got. Stopped (SIGTERM) when the test lets go of it.
final class StaticWebServer: @unchecked Sendable {
    let documents: TemporaryTree
    let base: String
    private let scratch: TemporaryTree
    private let process: Process

    /// `port`: one a test picked beforehand (`LoopbackSocket.closedPort()`), to start
    /// the server where a client already knocks.
    init(port: Int? = nil) throws {
        documents = try TemporaryTree("www")
        scratch = try TemporaryTree("nginx")
        // The kernel's pick, released for nginx to bind: nothing else on the machine
        // binds loopback ports the kernel is about to hand out again in between.
        let port = try port ?? LoopbackSocket.closedPort()
        let configuration = scratch.path("nginx.conf")
        try """
        daemon off;
        worker_processes 1;
        user nobody nogroup;
        pid \(scratch.path("nginx.pid"));
        error_log \(scratch.path("error.log"));
        events { worker_connections 64; }
        http {
            log_format status '$request_method $uri $status';
            access_log \(scratch.path("access.log")) status;
            default_type text/plain;
            gzip on;
            gzip_types text/plain;
            gzip_min_length 0;
            client_body_temp_path \(scratch.path("body"));
            proxy_temp_path \(scratch.path("proxy"));
            fastcgi_temp_path \(scratch.path("fastcgi"));
            uwsgi_temp_path \(scratch.path("uwsgi"));
            scgi_temp_path \(scratch.path("scgi"));
            server { listen 127.0.0.1:\(port); root \(documents.root); }
        }

        """.write(toFile: configuration, atomically: true, encoding: .utf8)
        process = try Command.start(
            "/usr/sbin/nginx", ["-c", configuration, "-p", scratch.root], log: scratch.path("stderr.log"))
        base = "http://127.0.0.1:\(port)"
        let deadline = ContinuousClock.now + .seconds(10)
        while !Self.accepts(port) {
            guard process.isRunning, ContinuousClock.now < deadline else {
                throw TestFailure("nginx did not start: \(errorLog)")
            }
            usleep(20_000)
        }
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
        }
    }

    var errorLog: String {
        ((try? String(contentsOfFile: scratch.path("error.log"), encoding: .utf8)) ?? "")
            + ((try? String(contentsOfFile: scratch.path("stderr.log"), encoding: .utf8)) ?? "")
    }

    /// `METHOD URI STATUS` per request answered so far.
    var accessLog: [String] {
        ((try? String(contentsOfFile: scratch.path("access.log"), encoding: .utf8)) ?? "")
            .split(separator: "\n").map(String.init)
    }

    /// Writes a served file and gives it a time of its own: nginx's ETag is made of the
    /// file's mtime (seconds) and size, so a rewrite within a second would keep it.
    func publish(_ path: String, _ text: String, mtime: Int) throws {
        let full = try documents.file(path, text)
        var times = [timespec(tv_sec: mtime, tv_nsec: 0), timespec(tv_sec: mtime, tv_nsec: 0)]
        guard utimensat(AT_FDCWD, full, &times, 0) == 0 else { throw TestFailure("cannot set the time of \(full)") }
    }

    private static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}
