import ArgumentParser
import FileList
import TreeScan

/// The scan flags create-filelist and filelistd share, spelled as Fedora's create-filelist
/// spells them: a drop-in contract, declared once.
public struct ScanFlags: ParsableArguments {
    @Flag(name: [.customShort("c"), .customLong("checksum")], help: "Add checksums of every repomd.xml file.")
    public var checksumRepomd = false

    @Option(
        name: [.customShort("C"), .customLong("checksum-file")],
        help: ArgumentHelp("Add checksums of every file with this name (repeatable).", valueName: "name"))
    public var checksumNames: [String] = []

    @Option(
        name: .customLong("checksum-algorithms"),
        help: ArgumentHelp(
            "Checksum sections to write, comma-separated, from sha1, md5, sha256, sha512. Clients from 2019 and before understand sha1 alone.",
            valueName: "list"))
    public var checksumAlgorithms: String = "sha1"

    @Option(
        name: [.customShort("S"), .customLong("skip-file")],
        help: ArgumentHelp("Leave this name out of the top directory (repeatable).", valueName: "name"))
    public var skipNames: [String] = []

    public init() {}

    public func validate() throws {
        if case .failure(let error) = ChecksumAlgorithm.parseList(checksumAlgorithms) {
            throw ValidationError("--checksum-algorithms: \(error)")
        }
    }

    /// What the flags choose (once `validate` has passed).
    public var choices: ScanChoices {
        var choices = ScanChoices()
        choices.checksumRepomd = checksumRepomd
        choices.checksumNames = checksumNames
        choices.skipNames = skipNames
        if case .success(let algorithms) = ChecksumAlgorithm.parseList(checksumAlgorithms) {
            choices.algorithms = algorithms
        }
        return choices
    }
}
