import FileList

/// Where one list sits below the upstream's root, and the request paths it speaks for.
///
/// A list at `DIR/NAME` lists entries relative to `DIR` (as `fullfiletimelist-fedora`
/// in `fedora/linux/` lists `releases/...`): the request path of entry `E` is `DIR/E`.
struct ListLocation: Sendable {
    /// The list's path below the upstream's root, as the operator gave it (`--list`).
    let path: String
    /// `DIR` as bytes, empty for a list at the root.
    let directory: [UInt8]

    init(_ path: String) throws(UpstreamListingError) {
        let bytes = Array(path.utf8)
        if let problem = RelativePath.problem(in: bytes) {
            throw UpstreamListingError("--list '\(path)': \(problem); give the list's path below the upstream's root")
        }
        self.path = path
        directory = Array(bytes[..<(bytes.lastIndex(of: Self.slash) ?? 0)])
    }

    /// The entry path a request path names in this list, or nil when the request path
    /// is not below `DIR`.
    func entryPath(_ request: String) -> Substring.UTF8View? {
        var bytes = Substring(request).utf8
        guard !directory.isEmpty else { return bytes.isEmpty ? nil : bytes }
        guard bytes.count > directory.count + 1, bytes.starts(with: directory) else { return nil }
        bytes = bytes.dropFirst(directory.count)
        guard bytes.first == Self.slash else { return nil }
        return bytes.dropFirst()
    }

    /// The request path of a line's path. A name that is not UTF-8 cannot come in a
    /// request path (`String`), so its U+FFFD spelling never matches one either.
    func requestPath(_ entry: some Collection<UInt8>) -> String {
        directory.isEmpty
            ? String(decoding: entry, as: UTF8.self)
            : String(decoding: directory + [Self.slash] + entry, as: UTF8.self)
    }

    static let slash = UInt8(ascii: "/")
}
