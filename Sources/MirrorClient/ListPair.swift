import FileList

/// A module's new list, and what changed since the old one installed by the last
/// successful run, read for planning.
///
/// The new list is read strictly, all of it, with a record per line (its `[Files]`
/// section in two halves on two cores when it is big). The old list is then walked in
/// step with it (`InStepDiff`): only the lines that differ are parsed and hashed, and
/// the old list is read through a 1 MiB window rather than held. When the two have
/// diverged too far for the walk to pay (a list in another order), both are matched
/// by sorted path keys instead (`FileListDiff`), with the old list's keys read the same
/// way; the plan is the same either way. Walking in step takes a fraction of the time and
/// less memory than parsing both lists and matching by sorted keys (`Benchmarks/run.sh
/// plan`; the figures are in docs/BENCHMARKS.md).
public enum ListPair {
    /// `divergenceLimit`: see `InStepDiff.compare`; tests lower it to force the keyed match.
    public static func read(
        module: String, directory: String, new bytes: [UInt8], source: String, oldFile: String,
        divergenceLimit: Int? = nil
    ) throws(FileListError) -> ModuleLists {
        let new = try CompactFileList(validating: bytes, source: source)
        var lists = ModuleLists(module: module, directory: directory, new: new, old: nil, oldFile: oldFile)
        // An old list that cannot be read, or would not parse, is treated as absent: a
        // full sync, no deletions.
        guard let pieces = ListFile.pieces(oldFile) else { return lists }
        switch InStepDiff.compare(new: new, oldReading: pieces, divergenceLimit: divergenceLimit) {
        case .compared(let diff):
            lists.inStep = diff
        case .oldUnusable:
            break
        case .diverged:
            lists.old = ListFile.pieces(oldFile).flatMap { try? CompactFileList(keysOnlyReading: $0) }
        }
        return lists
    }
}
