import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Builds a deterministic tree shaped like a Fedora master mirror, for tests and benchmarks
/// (a clone of the project has no other generator): deep package
/// directories of 20 to 200 entries, repodata with repomd.xml, hard links from `Server`
/// into `Everything`, relative symlinks, and a few restricted (0750) directories.
/// Files are empty: a tree costs inodes, not disk.
public struct MirrorTreeGenerator {
    public var entries: Int
    public var seed: UInt64
    /// Paths as long as Fedora's master tree has them (about 125 bytes per list line):
    /// under `pub/archive/fedora/linux/`, with longer package names.
    public var longPaths: Bool

    public init(entries: Int, seed: UInt64, longPaths: Bool = false) {
        self.entries = entries
        self.seed = seed
        self.longPaths = longPaths
    }

    public struct Counts: Codable {
        var entries = 0
        var directories = 0
        var files = 0
        var hardLinks = 0
        var symlinks = 0
        var restrictedDirectories = 0
    }

    /// Creates the tree under `root` (which must not exist) and returns what it made.
    public func generate(at root: String) throws -> Counts {
        var random = SeededRandom(seed: seed)
        var counts = Counts()
        var made = Set<String>()
        func mkdirs(_ path: String) throws {
            if made.contains(path) { return }
            if path != root { try mkdirs((path as NSString).deletingLastPathComponent) }
            guard mkdir(path, 0o755) == 0 || errno == EEXIST else { throw failure("mkdir", path) }
            made.insert(path)
            if path != root { counts.directories += 1 }
        }
        try mkdirs(root)
        let letters = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        let sections = [
            "releases/%d/Everything/x86_64/os", "updates/%d/Everything/x86_64", "development/%d/Everything/x86_64/os",
        ]
        var directoryIndex = 0
        while counts.entries < entries {
            let letter = letters[directoryIndex % letters.count]
            let group = directoryIndex / letters.count
            let release = 20 + group / sections.count
            let base =
                "\(root)/\(longPaths ? "pub/archive/fedora/linux" : "linux")/"
                + String(format: sections[group % sections.count], release)
            let packages = "\(base)/Packages/\(letter)"
            try mkdirs(packages)
            if directoryIndex % 97 == 13 {
                chmod(packages, 0o750)
                counts.restrictedDirectories += 1
            }
            let count = min(Int(random.next() % 181) + 20, max(1, entries - counts.entries))
            var first: String?
            for index in 0..<count {
                let flavour = longPaths ? ["-devel", "-libs", "-common", "-doc", "-tests"][index % 5] : ""
                let name =
                    "\(letter)\(Self.syllables(&random))\(flavour)-\(index % 7).\(random.next() % 20)-\(random.next() % 9).fc\(release).x86_64.rpm"
                let path = "\(packages)/\(name)"
                let fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0o644)
                guard fd >= 0 else { throw failure("open", path) }
                close(fd)
                counts.files += 1
                counts.entries += 1
                first = first ?? name
                // About 3% of packages are also in Server, as hard links.
                if random.next() % 32 == 0 && group % sections.count == 0 {
                    let server = "\(root)/linux/releases/\(release)/Server/x86_64/os/Packages/\(letter)"
                    try mkdirs(server)
                    guard link(path, "\(server)/\(name)") == 0 || errno == EEXIST else { throw failure("link", path) }
                    counts.hardLinks += 1
                    counts.entries += 1
                }
            }
            if let first, directoryIndex % 5 == 0 {
                guard symlink(first, "\(packages)/latest-\(letter).rpm") == 0 else {
                    throw failure("symlink", packages)
                }
                counts.symlinks += 1
                counts.entries += 1
            }
            if directoryIndex % letters.count == 0 {
                try mkdirs("\(base)/repodata")
                for file in ["repomd.xml", "primary.xml.zst", "filelists.xml.zst", "comps.xml"] {
                    let path = "\(base)/repodata/\(file)"
                    guard FileManager.default.createFile(atPath: path, contents: Data("\(file) \(release)\n".utf8))
                    else { throw failure("create", path) }
                    counts.files += 1
                    counts.entries += 1
                }
            }
            directoryIndex += 1
        }
        counts.entries += counts.directories
        return counts
    }

    private static func syllables(_ random: inout SeededRandom) -> String {
        let parts = ["ka", "lo", "mi", "py", "th", "on", "gn", "ome", "lib", "x11", "perl", "qt", "rust", "go", "node"]
        return (0..<Int(random.next() % 3 + 1)).map { _ in parts[Int(random.next() % UInt64(parts.count))] }.joined()
    }

    private func failure(_ call: String, _ path: String) -> NSError {
        NSError(
            domain: "MirrorTreeGenerator", code: Int(errno),
            userInfo: [NSLocalizedDescriptionKey: "\(call)(\(path)): \(String(cString: strerror(errno)))"])
    }
}

extension MirrorTreeGenerator {
    /// A top directory holding one generated module per (name, entries), with Fedora-length
    /// paths, kept under `cache` between runs. Returns the top directory.
    public static func cachedModules(_ modules: [(String, Int)], cache: String) throws -> String {
        let top = "\(cache)/modules-" + modules.map { "\($0.0)\($0.1)" }.joined(separator: "-")
        try FileManager.default.createDirectory(atPath: top, withIntermediateDirectories: true)
        for (seed, (name, entries)) in modules.enumerated() {
            let tree = "\(top)/\(name)"
            let marker = "\(top)/.\(name).complete"
            if FileManager.default.fileExists(atPath: marker) { continue }
            try? FileManager.default.removeItem(atPath: tree)
            FileHandle.standardError.write(Data("generating \(entries) entries under \(tree)...\n".utf8))
            let counts = try MirrorTreeGenerator(entries: entries, seed: UInt64(seed + 11), longPaths: true)
                .generate(at: tree)
            try JSONEncoder().encode(counts).write(to: URL(fileURLWithPath: marker))
        }
        return top
    }

    /// The tree for (entries, seed) under `cache`, generated once and reused: creating a
    /// million files takes minutes.
    public static func cachedTree(entries: Int, seed: UInt64, cache: String) throws -> String {
        let tree = "\(cache)/tree-\(entries)-\(seed)"
        let marker = "\(tree).complete"
        if FileManager.default.fileExists(atPath: marker) { return tree }
        try? FileManager.default.removeItem(atPath: tree)
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        FileHandle.standardError.write(Data("generating \(entries) entries under \(tree)...\n".utf8))
        let start = Date()
        let counts = try MirrorTreeGenerator(entries: entries, seed: seed).generate(at: tree)
        let json = try JSONEncoder().encode(counts)
        try json.write(to: URL(fileURLWithPath: marker))
        FileHandle.standardError.write(
            Data(
                "generated in \(Int(Date().timeIntervalSince(start))) s: \(String(decoding: json, as: UTF8.self))\n"
                    .utf8))
        return tree
    }
}
