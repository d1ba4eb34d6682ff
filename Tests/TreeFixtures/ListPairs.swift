import FileList

/// Old and new lists for comparing the in-step walk with the keyed match: the changes a
/// mirror sees every day, and some it should never see (repeated paths, another order).
public enum ListPairs {
    public enum Scenario: String, CaseIterable, Sendable {
        case identical
        case editedInPlace
        case insertedSubtrees
        case removedSubtrees
        case movedBlocks
        case renamed
        case duplicatedLines
        case shuffled
        case reversed
        case newShorter
        case newLonger
        case mixed
    }

    /// A seeded generator, so a failing case can be run again.
    public typealias Random = SeededRandom

    public static let baseTime: Int64 = 1_700_000_000

    /// A tree in generator order: directories with packages, hidden files (which the
    /// reader's one-pass path check leaves to the exact one), links, restricted entries.
    public static func tree(count: Int, random: inout Random, prefix: String = "") -> [FileListEntry] {
        var entries: [FileListEntry] = []
        var directory = 0
        while entries.count < count {
            let path = "\(prefix)linux/releases/\(40 + directory / 8)/Everything/x86_64/os/Packages/\(directory % 8)"
            entries.append(entry(path, EntryType(.directory), random: &random))
            for file in 0..<Int.random(in: 1...12, using: &random) where entries.count < count {
                let name: String
                let type: EntryType
                switch Int.random(in: 0..<20, using: &random) {
                case 0: (name, type) = (".treeinfo", EntryType(.file))
                case 1: (name, type) = ("latest-\(file)", EntryType(.symlink))
                case 2: (name, type) = ("embargo-\(file).rpm", EntryType(.file, .notWorldReadable))
                case 3: (name, type) = ("staged-\(file).rpm", EntryType(.file, .restrictedSubtree))
                case 4: (name, type) = ("sub.\(file)", EntryType(.directory))
                default: (name, type) = ("package-\(file)-\(random.next() % 100).fc40.x86_64.rpm", EntryType(.file))
                }
                entries.append(entry("\(path)/\(name)", type, random: &random))
            }
            directory += 1
        }
        return entries
    }

    static func entry(_ path: String, _ type: EntryType, random: inout Random) -> FileListEntry {
        FileListEntry(
            time: baseTime + Int64(random.next() % 1_000_000), type: type,
            size: type.kind == .directory ? 4096 : Int64(random.next() % 50_000_000), path: path)
    }

    /// One change to an entry that a diff must notice, or (a directory's size) must not.
    static func edit(_ entry: inout FileListEntry, random: inout Random) {
        switch Int.random(in: 0..<5, using: &random) {
        case 0: entry.time += 86_400
        case 1: entry.size += 1
        case 2: entry.type = EntryType(entry.type.kind, entry.type.access == .open ? .notWorldReadable : .open)
        case 3: entry.type = EntryType(entry.type.kind == .symlink ? .file : .symlink)
        default:
            if entry.type.kind == .directory { entry.size += 4096 } else { entry.time -= 1 }
        }
    }

    public static func pair(
        _ scenario: Scenario, seed: UInt64, count: Int = 600
    ) -> (old: [FileListEntry], new: [FileListEntry]) {
        var random = Random(seed: seed)
        let old = tree(count: count, random: &random)
        var new = old
        func block() -> Range<Int> {
            guard !new.isEmpty else { return 0..<0 }
            let start = Int.random(in: 0..<new.count, using: &random)
            return start..<min(new.count, start + Int.random(in: 1...40, using: &random))
        }
        func apply(_ scenario: Scenario) {
            switch scenario {
            case .identical:
                break
            case .editedInPlace:
                for _ in 0..<Int.random(in: 1...30, using: &random) where !new.isEmpty {
                    edit(&new[Int.random(in: 0..<new.count, using: &random)], random: &random)
                }
            case .insertedSubtrees:
                for round in 0..<Int.random(in: 1...5, using: &random) {
                    let subtree = tree(
                        count: Int.random(in: 1...30, using: &random), random: &random, prefix: "new\(seed)-\(round)/")
                    new.insert(contentsOf: subtree, at: Int.random(in: 0...new.count, using: &random))
                }
            case .removedSubtrees:
                for _ in 0..<Int.random(in: 1...5, using: &random) { new.removeSubrange(block()) }
            case .movedBlocks:
                for _ in 0..<Int.random(in: 1...4, using: &random) {
                    let range = block()
                    let moved = Array(new[range])
                    new.removeSubrange(range)
                    new.insert(contentsOf: moved, at: Int.random(in: 0...new.count, using: &random))
                }
            case .renamed:
                for _ in 0..<Int.random(in: 1...10, using: &random) where !new.isEmpty {
                    new[Int.random(in: 0..<new.count, using: &random)].path += Array("-renamed".utf8)
                }
            case .duplicatedLines:
                // Repeated paths: in the new list, the old one, or both; the same line or
                // an edited one; next to the original or far from it.
                for _ in 0..<Int.random(in: 1...8, using: &random) where !new.isEmpty {
                    var copy = new[Int.random(in: 0..<new.count, using: &random)]
                    if Bool.random(using: &random) { edit(&copy, random: &random) }
                    new.insert(copy, at: Int.random(in: 0...new.count, using: &random))
                }
            case .shuffled:
                new.shuffle(using: &random)
            case .reversed:
                new.reverse()
            case .newShorter:
                new.removeLast(Int.random(in: 1...max(1, new.count / 3), using: &random))
            case .newLonger:
                new += tree(count: Int.random(in: 1...100, using: &random), random: &random, prefix: "tail/")
            case .mixed:
                for _ in 0..<Int.random(in: 2...6, using: &random) {
                    apply(
                        [.editedInPlace, .insertedSubtrees, .removedSubtrees, .movedBlocks, .renamed, .duplicatedLines]
                            .randomElement(using: &random)!)
                }
            }
        }
        apply(scenario)
        var oldList = old
        if scenario == .duplicatedLines || scenario == .mixed {
            for _ in 0..<Int.random(in: 0...4, using: &random) where !oldList.isEmpty {
                var copy = oldList[Int.random(in: 0..<oldList.count, using: &random)]
                if Bool.random(using: &random) { edit(&copy, random: &random) }
                oldList.insert(copy, at: Int.random(in: 0...oldList.count, using: &random))
            }
        }
        return (oldList, new)
    }

    /// A list's bytes, with a checksum for every `.treeinfo` (so the old list's trailer
    /// has lines to check too).
    public static func render(_ entries: [FileListEntry]) -> [UInt8] {
        let checksums = entries.filter { $0.path.last == 0x6F }.prefix(5).map {
            FileChecksum(path: $0.path, hex: [.sha1: String(repeating: "ab", count: 20)])
        }
        return FileListFormat.render(entries: entries, checksums: checksums)
    }

    /// The list with its `index`-th `[Files]` line replaced by `line`.
    public static func replacingLine(_ index: Int, with line: String, in list: [UInt8]) -> [UInt8] {
        var lines = list.split(separator: 0x0A, omittingEmptySubsequences: false).map(Array.init)
        lines[4 + index] = Array(line.utf8)
        return Array(lines.joined(separator: [0x0A]))
    }
}
