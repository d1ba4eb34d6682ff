import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A seeded stream of the file system operations a mirror sees: creates, writes,
/// truncates, deletes, renames of files and directories across levels, hard links,
/// symlinks (some dangling), chmods that hide or restrict subtrees, and rsync's
/// `.~tmp~` staging. Operations that fail (the path went away) are skipped.
public struct RandomOperations {
    public let tree: TemporaryTree
    private var random: SeededRandom
    private var files: [String] = []
    private var directories: [String] = [""]
    public private(set) var performed = 0

    /// Operations stay below `under` (a module), or anywhere in the tree.
    public init(tree: TemporaryTree, seed: UInt64, under: String = "") {
        self.tree = tree
        random = SeededRandom(seed: seed)
        directories = [under]
    }

    public mutating func run(_ count: Int) {
        for _ in 0..<count {
            step()
            performed += 1
        }
    }

    private mutating func pick(_ list: [String]) -> String? {
        list.isEmpty ? nil : list[Int(random.next() % UInt64(list.count))]
    }

    private mutating func newName(_ prefix: String) -> String { "\(prefix)\(random.next() % 100_000)" }

    private func join(_ directory: String, _ name: String) -> String {
        directory.isEmpty ? name : "\(directory)/\(name)"
    }

    private mutating func step() {
        let roll = random.next() % 100
        switch roll {
        case 0..<22:
            guard let directory = pick(directories) else { return }
            let path = join(directory, newName("f"))
            if (try? tree.file(path, String(repeating: "x", count: Int(random.next() % 64)))) != nil {
                files.append(path)
            }
        case 22..<30:
            guard let path = pick(files), let handle = FileHandle(forWritingAtPath: tree.path(path)) else { return }
            handle.seekToEndOfFile()
            handle.write(Data("more".utf8))
            try? handle.close()
        case 30..<34:
            guard let path = pick(files) else { return }
            truncate(tree.path(path), off_t(random.next() % 3))
        case 34..<42:
            guard let path = pick(files) else { return }
            unlink(tree.path(path))
            files.removeAll { $0 == path }
        case 42..<50:
            guard let directory = pick(directories) else { return }
            let path = join(directory, newName("d"))
            if mkdir(tree.path(path), 0o755) == 0 { directories.append(path) }
        case 50..<53:
            guard let path = pick(directories), path != directories[0] else { return }
            try? FileManager.default.removeItem(atPath: tree.path(path))
            forget(path)
        case 53..<62:
            guard let path = pick(files), let directory = pick(directories) else { return }
            let target = join(directory, newName("r"))
            if rename(tree.path(path), tree.path(target)) == 0 {
                files.removeAll { $0 == path }
                files.append(target)
            }
        case 62..<67:
            guard let path = pick(directories), path != directories[0], let directory = pick(directories),
                directory != path, !directory.hasPrefix(path + "/")
            else { return }
            let target = join(directory, newName("m"))
            if rename(tree.path(path), tree.path(target)) == 0 { move(path, to: target) }
        case 67..<74:
            guard let path = pick(files), let directory = pick(directories) else { return }
            let target = join(directory, newName("h"))
            if link(tree.path(path), tree.path(target)) == 0 { files.append(target) }
        case 74..<79:
            guard let directory = pick(directories) else { return }
            let path = join(directory, newName("s"))
            let target = random.next() % 3 == 0 ? "missing" : (pick(files).map { "/" + $0 } ?? "missing")
            // Relative to the tree, so the link resolves inside it.
            let destination = target == "missing" ? target : tree.root + target
            if symlink(destination, tree.path(path)) == 0 { files.append(path) }
        case 79..<86:
            guard let path = pick(directories), path != directories[0] else { return }
            let modes: [mode_t] = [0o700, 0o750, 0o755, 0o755]
            chmod(tree.path(path), modes[Int(random.next() % 4)])
        case 86..<92:
            guard let path = pick(files) else { return }
            let modes: [mode_t] = [0o600, 0o640, 0o644, 0o604]
            chmod(tree.path(path), modes[Int(random.next() % 4)])
        default:
            // rsync --delay-updates: stage in .~tmp~, then move into place.
            guard let directory = pick(directories) else { return }
            let staging = join(directory, ".~tmp~")
            mkdir(tree.path(staging), 0o700)
            let name = newName("u")
            _ = try? tree.file(join(staging, name), "staged")
            if rename(tree.path(join(staging, name)), tree.path(join(directory, name))) == 0 {
                files.append(join(directory, name))
            }
            rmdir(tree.path(staging))
        }
    }

    private mutating func forget(_ directory: String) {
        directories.removeAll { $0 == directory || $0.hasPrefix(directory + "/") }
        files.removeAll { $0.hasPrefix(directory + "/") }
    }

    private mutating func move(_ directory: String, to target: String) {
        func moved(_ path: String) -> String {
            path == directory
                ? target : path.hasPrefix(directory + "/") ? target + path.dropFirst(directory.count) : path
        }
        directories = directories.map(moved)
        files = files.map(moved)
    }
}

/// SplitMix64: the same seed gives the same operations (and lists) on any machine.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
