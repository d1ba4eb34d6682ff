import FileList

/// What a publisher hands to whoever serves its lists: "generation N: these versions,
/// with these deltas". The publisher owns the generation number and the versions; a
/// server announces them as given and never reads back what was just written to learn
/// what it is.
public struct Publication: Sendable {
    public struct File: Sendable {
        /// The list's path as served (below the served root).
        public var path: String
        public var list: PublishedList
        /// The delta from the version this one replaced, when the publisher knows what
        /// changed (from its index); the server makes it otherwise.
        public var delta: FileListDelta?

        public init(path: String, list: PublishedList, delta: FileListDelta? = nil) {
            self.path = path
            self.list = list
            self.delta = delta
        }
    }

    public var generation: Int
    /// The lists this generation replaced; at the first generation, every list.
    public var files: [File]
    /// Lists no longer served (a relay's list that cannot be read any more), by path.
    public var removed: [String]

    public init(generation: Int, files: [File], removed: [String] = []) {
        self.generation = generation
        self.files = files
        self.removed = removed
    }
}
