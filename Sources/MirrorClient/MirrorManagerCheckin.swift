import AsyncHTTPClient
import Foundation
import LinuxCalls
import ListTransport
import Logging
import NIOCore

/// Reports a module's directories to MirrorManager after a successful sync, exactly as
/// the reference client does (its `checkin_*` functions): a JSON document in
/// report_mirror's shape, compressed with bzip2, base64 with `+/` turned into `-_`, sent
/// as the one string parameter of an XML-RPC `checkin` call. MirrorManager answers with
/// text containing "successful". A failed check-in is retried and logged, and never
/// fails the sync: the mirror is correct either way, and the crawler will find it.
public struct MirrorManagerCheckin: Sendable {
    public struct Settings: Sendable, Equatable {
        /// CHECKIN_SITE: without it there is no check-in.
        public var site: String?
        public var password = ""
        /// CHECKIN_HOST, by default this machine's host name as `hostname` prints it.
        public var host = Settings.hostname()
        /// CHECKIN_HOST_<module> (with `-` written `_`): a module registered under another host.
        public var hostPerModule: [String: String] = [:]
        /// MIRRORMANAGER: the XML-RPC endpoint.
        public var server = "https://admin.fedoraproject.org/mirrormanager/xmlrpc"
        /// MAXCHECKINRETRIES: attempts per module (the reference defaults it to MAXRETRIES).
        public var maxRetries = 10
        /// MIRRORMANAGERMAPPING: the category name MirrorManager knows each module by.
        public var names = [
            "fedora-alt": "fedora other", "fedora-archive": "fedora archive", "fedora-enchilada": "fedora linux",
            "fedora-epel": "fedora epel", "fedora-secondary": "fedora secondary arches",
        ]
        /// MIRRORMANAGERMODULEMAPPING: the prefix MirrorManager does not want on directories.
        public var directories: [String: String] = [:]

        public init() {}

        static func hostname() -> String { Linux.hostName() ?? "localhost" }

        func host(for module: String) -> String {
            hostPerModule[module.replacingOccurrences(of: "-", with: "_")] ?? host
        }
    }

    public var settings: Settings
    /// Seconds before the second attempt; the reference sleeps 2×attempt.
    public var pauseUnit: Double = 2
    /// Seconds one attempt may take (RSYNCTIMEOUT).
    public var timeout: Double = 600
    public var logger: Logger

    public init(settings: Settings, logger: Logger) {
        self.settings = settings
        self.logger = logger
    }

    /// The JSON document for one module. `directories` are relative to the master
    /// module (`<module directory>/<path>`), as the reference's `alldirs-<module>`.
    public func payload(module: String, moduleDirectory: String, directories: [String]) -> String {
        let name = settings.names[module] ?? module
        // A module the mapping does not know: its own directory is the prefix to drop.
        let prefix = (settings.directories[module] ?? moduleDirectory) + "/"
        var text = "{\n    \(Self.json(name)): {\n        \"dirtree\": {\n"
        for directory in directories {
            var reported = directory
            // As zsh's ${l/prefix/}: the first occurrence goes.
            if let range = reported.range(of: prefix) { reported.removeSubrange(range) }
            text += "            \(Self.json(reported)): {},\n"
        }
        text += """
                        "": {}
                    },
                    "enabled": "1"
                },
                "global": {
                    "enabled": "1",
                    "server": \(Self.json(settings.server))
                },
                "host": {
                    "enabled": "1",
                    "name": \(Self.json(settings.host(for: module)))
                },
                "site": {
                    "enabled": "1",
                    "name": \(Self.json(settings.site ?? "")),
                    "password": \(Self.json(settings.password))
                },
                "stats": {},
                "version": 0
            }

            """
        return text
    }

    /// The XML-RPC request body carrying the payload.
    public func request(payload: String) throws(SyncError) -> String {
        let compressed = try Self.bzip2(Array(payload.utf8))
        let encoded = Data(compressed).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        return "<?xml version='1.0'?>\n<methodCall>\n<methodName>checkin</methodName>\n<params>\n<param>\n"
            + "<value><string>\(encoded)</string></value>\n</param>\n</params>\n</methodCall>\n"
    }

    /// Checks in one module; returns whether MirrorManager took it. `dump`: write the
    /// request to `<dump>-<module>` instead of sending it (the reference's test hook).
    @discardableResult
    public func checkIn(module: String, moduleDirectory: String, directories: [String], dump: String? = nil) -> Bool {
        let body: String
        do {
            body = try request(payload: payload(module: module, moduleDirectory: moduleDirectory, directories: directories))
        } catch {
            logger.error("check-in of \(module): \(error)", metadata: ["item": "E"])
            return false
        }
        if let dump {
            do {
                try body.write(toFile: "\(dump)-\(module)", atomically: true, encoding: .utf8)
                return true
            } catch {
                logger.error("cannot write the check-in of \(module) to \(dump)-\(module): \(error)", metadata: ["item": "E"])
                return false
            }
        }
        let attempts = max(settings.maxRetries, 1)
        let backoff = Backoff(first: .milliseconds(Int64(pauseUnit * 1000)), growth: .linear)
        let outcome = backoff.run(retries: attempts - 1) { retry, _, error in
            logger.warning(
                "check-in attempt \(retry) of \(module) failed (\(error.map { "\($0)" } ?? "")); will retry",
                metadata: ["item": "e"])
        } _: { () -> Backoff.Attempt<SyncError?> in
            switch send(body) {
            case .success: .done(nil)
            case .failure(let error): .again(error)
            }
        }
        if let error = outcome {
            logger.error(
                "could not complete the check-in of \(module) after \(attempts) tries: \(error)", metadata: ["item": "E"])
            return false
        }
        logger.info("checked in \(module) as \(settings.host(for: module))", metadata: ["item": "M"])
        return true
    }

    /// One POST. The project's client fails a refused connection at once, as the
    /// reference's curl does, and the retries above pace the attempts.
    private func send(_ body: String) -> Result<Void, SyncError> {
        let seconds = TimeAmount.seconds(Int64(max(timeout, 1)))
        let response: HTTPClient.Response
        do {
            let request = try HTTPClient.Request(
                url: settings.server, method: .POST, headers: ["Content-Type": "text/xml"], body: .string(body))
            response = try ListHTTPClient.shared.execute(request: request, deadline: .now() + seconds).wait()
        } catch {
            return .failure(SyncError("\(settings.server): \(error)"))
        }
        // As the reference: strip the tags and look for the word.
        let plain = response.body.map { String(buffer: $0) } ?? ""
        let text = plain.replacingOccurrences(of: "<[^>]*>", with: "", options: .regularExpression)
        guard response.status.code == 200, text.lowercased().contains("successful") else {
            return .failure(
                SyncError("HTTP \(response.status.code): \(text.trimmingCharacters(in: .whitespacesAndNewlines).prefix(200))"))
        }
        return .success(())
    }

    /// bzip2 through the `bzip2` command, as the reference does: the payload is a few
    /// hundred kilobytes once per module and sync, so a process costs nothing that
    /// matters, and it spares the package a system-library target and a -dev package
    /// for a format used in this one place.
    static func bzip2(_ bytes: [UInt8]) throws(SyncError) -> [UInt8] {
        // The input from a file, so that neither side of a pipe can fill while the other waits.
        let inputPath = NSTemporaryDirectory() + "/quick-mirror-checkin-\(ProcessInfo.processInfo.processIdentifier)-\(UInt64.random(in: 0...UInt64.max))"
        defer { try? FileManager.default.removeItem(atPath: inputPath) }
        guard FileManager.default.createFile(atPath: inputPath, contents: Data(bytes)),
            let input = FileHandle(forReadingAtPath: inputPath)
        else { throw SyncError("cannot write the check-in payload to \(inputPath)") }
        defer { try? input.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["bzip2", "-c"]
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw SyncError("cannot run bzip2: \(error)")
        }
        let compressed = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw SyncError("bzip2 failed with status \(process.terminationStatus)")
        }
        return Array(compressed)
    }

    static func json(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case "\r": result += "\\r"
            default:
                if scalar.value < 0x20 {
                    result += String(format: "\\u%04x", scalar.value)
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + "\""
    }
}
