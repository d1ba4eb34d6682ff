import LinuxCalls
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Writes whole lines to standard output and standard error with write(2), at once.
///
/// Two failures this exists for: Foundation's `FileHandle.write` traps when the write
/// fails, and a reader that went away (`quick-mirror ... | head -1`) makes every later
/// write fail with EPIPE once SIGPIPE is ignored, as SwiftNIO ignores it; and stdio
/// buffers standard output until exit when it is not a terminal, so a follower's lines
/// reached its journal or log file only when it stopped. A stream whose reader is gone
/// is simply not written to again: the run itself goes on and ends as it would have.
public enum StandardStreams {
    /// SIGPIPE ignored for the whole process, so a closed pipe is an EPIPE to handle,
    /// not a death by signal in the middle of a sync.
    public static func ignoreBrokenPipes() { Linux.ignoreSignal(SIGPIPE) }

    public static func printLine(_ line: String) { write(line + "\n", to: STDOUT_FILENO) }

    public static func errorLine(_ line: String) { write(line + "\n", to: STDERR_FILENO) }

    /// Whether `fd` is a terminal.
    public static func isTerminal(_ fd: Int32) -> Bool { Linux.isTerminal(fd) }

    static func write(_ text: String, to fd: Int32) {
        Array(text.utf8).withUnsafeBytes { buffer in
            do {
                try Linux.writeAll(FileDescriptor(rawValue: fd), buffer, displayPath: "standard stream \(fd)")
            } catch {
                // EPIPE, EBADF, ENOSPC...: there is nobody or nothing to tell.
            }
        }
    }
}
