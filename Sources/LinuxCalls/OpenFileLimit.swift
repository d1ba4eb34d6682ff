import SystemPackage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The process's limit on open descriptors (`RLIMIT_NOFILE`).
public struct OpenFileLimit: Sendable, Equatable, CustomStringConvertible {
    /// What the kernel enforces now: `open`, `accept` and `socket` fail with EMFILE past it.
    public var soft: Int
    /// How far the process may raise `soft` by itself.
    public var hard: Int

    public init(soft: Int, hard: Int) {
        self.soft = soft
        self.hard = hard
    }

    public var description: String { "\(soft) (hard \(hard))" }
}

extension Linux {
    /// `getrlimit(RLIMIT_NOFILE)`; an unlimited value reads as `Int.max`.
    public static func openFileLimit() throws(SystemCallError) -> OpenFileLimit {
        var limit = rlimit()
        if let error = retrying({ getrlimit(RLIMIT_NOFILE_VALUE, &limit) }).1 {
            throw SystemCallError("getrlimit", path: "RLIMIT_NOFILE", errno: error)
        }
        return OpenFileLimit(soft: Self.count(limit.rlim_cur), hard: Self.count(limit.rlim_max))
    }

    /// Raises the soft limit to the hard one, as Go programs do at start: systemd gives a
    /// service 1,024 by default (for the sake of programs that still use select(2), which
    /// breaks above it), with a hard limit far higher for those that ask. Our servers poll
    /// with epoll, so the soft limit only stands between them and their clients. Returns the
    /// limit in force afterwards; the limit is left as it was when raising it fails.
    @discardableResult
    public static func raiseOpenFileLimit() throws(SystemCallError) -> OpenFileLimit {
        var limit = rlimit()
        if let error = retrying({ getrlimit(RLIMIT_NOFILE_VALUE, &limit) }).1 {
            throw SystemCallError("getrlimit", path: "RLIMIT_NOFILE", errno: error)
        }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if let error = retrying({ setrlimit(RLIMIT_NOFILE_VALUE, &raised) }).1 {
                throw SystemCallError("setrlimit", path: "RLIMIT_NOFILE", errno: error)
            }
            limit = raised
        }
        return OpenFileLimit(soft: Self.count(limit.rlim_cur), hard: Self.count(limit.rlim_max))
    }

    /// Descriptors this process holds now (the entries of /proc/self/fd, less the one
    /// the count itself opens); nil when /proc is not mounted.
    public static func openDescriptorCount() -> Int? {
        guard let directory = opendir("/proc/self/fd") else { return nil }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            if entry.pointee.d_name.0 != UInt8(ascii: ".") { count += 1 }
        }
        return max(0, count - 1)
    }

    /// RLIM_INFINITY is all ones, past Int.max like any other value too large to matter.
    private static func count(_ value: rlim_t) -> Int {
        value > rlim_t(Int.max) ? Int.max : Int(value)
    }

    // Glibc's module imports RLIMIT_NOFILE as a case of the `__rlimit_resource` enum,
    // which getrlimit takes by its raw value.
    private static var RLIMIT_NOFILE_VALUE: __rlimit_resource_t { __rlimit_resource_t(RLIMIT_NOFILE.rawValue) }
}
