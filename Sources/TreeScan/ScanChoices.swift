import FileList

/// What an operator chooses about a scan, as command-line flags (`-c`, `-C NAME`,
/// `--checksum-algorithms`, `-S NAME`, of create-filelist and filelistd) or as keys of
/// filelistd's config file (`checksum`, `checksum-file`, `checksum-algorithms`,
/// `skip-file`): turned into `ScanOptions` here, once, whichever way it came.
public struct ScanChoices: Sendable, Equatable {
    /// Checksums of every `repomd.xml` (`-c`).
    public var checksumRepomd = false
    /// Checksums of every regular file with one of these names (`-C`).
    public var checksumNames: [String] = []
    public var algorithms: [ChecksumAlgorithm] = [.sha1]
    /// Names left out of the top directory (`-S`).
    public var skipNames: [String] = []

    public init() {}

    /// `options` with these choices made; what they do not choose (workers, unlisted
    /// entries, the skips of the outputs themselves) is left as it is.
    public func applied(to options: ScanOptions = ScanOptions()) -> ScanOptions {
        var options = options
        options.topLevelSkips.formUnion(skipNames.map { Array($0.utf8) })
        options.checksumNames.formUnion(checksumNames.map { Array($0.utf8) })
        if checksumRepomd { options.checksumNames.insert(Array("repomd.xml".utf8)) }
        options.algorithms = algorithms
        return options
    }
}
