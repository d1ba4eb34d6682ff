import ArgumentParser
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

// The servers a benchmark starts beside what it measures (nginx, filelistd).

func start(_ tool: String, _ arguments: [String], log: String, environment: [String: String]? = nil) throws
    -> Process
{
    let process = Process()
    process.executableURL = URL(fileURLWithPath: tool)
    process.arguments = arguments
    if let environment { process.environment = environment }
    _ = FileManager.default.createFile(atPath: log, contents: nil)
    process.standardError = FileHandle(forWritingAtPath: log)
    process.standardOutput = FileHandle(forWritingAtPath: log)
    try process.run()
    return process
}

func stop(_ process: Process) {
    kill(process.processIdentifier, SIGTERM)
    process.waitUntilExit()
}

/// A port nothing listens on now (the kernel's pick for a socket bound to port 0).
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    guard bound else { throw ValidationError("cannot find a free port") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// nginx serving `www` on 127.0.0.1 as a plain mirror serves its lists (ETags, 304s,
/// a `.gz` made beforehand when there is one); its files go in `scratch`. Returns once
/// it accepts connections.
func startNginx(serving www: String, scratch: String) throws -> (Process, port: Int) {
    let port = try freePort()
    return (
        try runNginx("server { listen 127.0.0.1:\(port); root \(www); }", name: "nginx", port: port, scratch: scratch),
        port
    )
}

/// nginx serving `www` at most `bytesPerSecond` per connection (`limit_rate`), as an
/// upstream across a network would.
func startThrottledNginx(serving www: String, bytesPerSecond: Int, scratch: String) throws -> (Process, port: Int) {
    let port = try freePort()
    let server = "server { listen 127.0.0.1:\(port); root \(www); limit_rate \(bytesPerSecond); }"
    return (try runNginx(server, name: "nginx-throttled", port: port, scratch: scratch), port)
}

/// nginx as a caching proxy in front of `upstreamPort` (`proxy_cache`, its cache in
/// `scratch`): the yardstick for a miss. Each distinct query string is its own cache key.
func startNginxCache(upstreamPort: Int, scratch: String) throws -> (Process, port: Int) {
    let port = try freePort()
    let server = """
            proxy_cache_path \(scratch)/nginx-cache levels=1:2 keys_zone=objects:10m max_size=100g use_temp_path=off;
            server {
                listen 127.0.0.1:\(port);
                location / {
                    proxy_pass http://127.0.0.1:\(upstreamPort);
                    proxy_http_version 1.1;
                    proxy_set_header Connection "";
                    proxy_cache objects;
                    proxy_cache_valid 200 1h;
                }
            }
        """
    return (try runNginx(server, name: "nginx-cache", port: port, scratch: scratch), port)
}

private func runNginx(_ server: String, name: String, port: Int, scratch: String) throws -> Process {
    let configuration = "\(scratch)/\(name).conf"
    try """
    daemon off;
    worker_processes auto;
    user root;
    pid \(scratch)/\(name).pid;
    error_log \(scratch)/\(name)-error.log;
    events { worker_connections 1024; }
    http {
        access_log off;
        sendfile on;
        etag on;
        gzip_static on;
        default_type text/plain;
        client_body_temp_path \(scratch)/\(name)-body;
        proxy_temp_path \(scratch)/\(name)-proxy;
        fastcgi_temp_path \(scratch)/\(name)-fastcgi;
        uwsgi_temp_path \(scratch)/\(name)-uwsgi;
        scgi_temp_path \(scratch)/\(name)-scgi;
        \(server)
    }

    """.write(toFile: configuration, atomically: true, encoding: .utf8)
    let nginx = try start("/usr/sbin/nginx", ["-c", configuration, "-p", scratch], log: "\(scratch)/\(name).log")
    let deadline = ContinuousClock.now + .seconds(10)
    while (try? curl(["-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)/"])) == "000" {
        guard ContinuousClock.now < deadline, nginx.isRunning else { throw ValidationError("\(name) did not start") }
        usleep(20_000)
    }
    return nginx
}
