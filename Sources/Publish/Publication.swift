import FileList

/// What a publisher hands to whoever serves its lists once new ones are in place:
/// "generation N: these files, with these digests". The publisher owns the generation
/// number; a server announces it as given and never reads back what was just written
/// to learn its digest.
public struct Publication: Sendable, Equatable {
    public struct File: Sendable, Equatable {
        /// The list's path on disk (as renamed into place).
        public var target: String
        /// SHA-256 of its bytes, hex, computed while they were written.
        public var digest: String
        /// The delta from the list this one replaced, when the publisher knows what it
        /// changed (from its index, not from the files); the server makes it otherwise.
        public var delta: FileListDelta?

        public init(target: String, digest: String, delta: FileListDelta? = nil) {
            self.target = target
            self.digest = digest
            self.delta = delta
        }
    }

    public var generation: Int
    /// Every list of this generation, replaced or confirmed unchanged.
    public var files: [File]

    public init(generation: Int, files: [File]) {
        self.generation = generation
        self.files = files
    }
}
