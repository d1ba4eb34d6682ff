import FileList
import Foundation
import Testing
import TreeFixtures

func createFilelist(_ arguments: String...) throws -> Command.Result {
    try Command.run("create-filelist", arguments)
}

@Suite("create-filelist as an operator runs it", .ownThread)
struct CommandLineTests {
    @Test("--help explains the tool and its checksum options")
    func help() throws {
        for flag in ["-h", "--help"] {
            let result = try createFilelist(flag)
            #expect(result.status == 0)
            let text = String(decoding: result.stdout, as: UTF8.self)
            #expect(text.contains("Generate"))
            #expect(text.contains("--checksum"))
            for option in ["-d", "-t", "-f", "-i", "-c", "-C", "-s", "-S", "--if-changed", "--checksum-algorithms"] {
                #expect(text.contains(option), "help mentions \(option)")
            }
        }
    }

    @Test("standard output and -t write the same list, and it parses")
    func stdoutAndFile() throws {
        let tree = try TemporaryTree("cli")
        try tree.file("pub/a.rpm", "a")
        try tree.file("pub/repodata/repomd.xml", "x\n")
        let out = try TemporaryTree("cli-out")
        let toStdout = try createFilelist("-d", tree.root, "-c")
        let toFile = try createFilelist("-d", tree.root, "-c", "-t", out.path("fullfiletimelist"))
        #expect(toStdout.status == 0 && toFile.status == 0)
        #expect(toStdout.stderr.isEmpty)
        #expect(try out.read("fullfiletimelist") == toStdout.stdout)
        let list = try FileListReader.parse(toStdout.stdout)
        #expect(list.entries.map(\.displayPath) == ["pub", "pub/a.rpm", "pub/repodata", "pub/repodata/repomd.xml"])
        #expect(list.checksums[.sha1]?.count == 1)
    }

    @Test("a list is mode 0644 even under umask 077")
    func modeWhateverTheUmask() throws {
        // In a child shell: umask is per process, and changing the test process's own
        // would leak into every test running beside this one.
        let tree = try TemporaryTree("umask")
        try tree.file("a", "")
        let target = tree.path("fullfiletimelist")
        let binary = Command.executable("create-filelist").path
        #expect(Command.runShell("umask 077 && '\(binary)' -d '\(tree.root)' -s -t '\(target)'") == 0)
        let attributes = try FileManager.default.attributesOfItem(atPath: target)
        #expect((attributes[.posixPermissions] as? Int) == 0o644)
    }

    @Test("-s leaves the lists themselves out; -f and -i write ./-prefixed paths")
    func companionLists() throws {
        let tree = try TemporaryTree("companions")
        try tree.file("iso/Fedora-40.iso", "i")
        try tree.file("cloud/Fedora-Cloud.qcow2", "q")
        try tree.file("pub/a.rpm", "a")
        let result = try createFilelist(
            "-d", tree.root, "-s", "-t", tree.path("fullfiletimelist"), "-f", tree.path("filelist"), "-i",
            tree.path("imagelist"))
        #expect(result.status == 0)
        let list = try FileListReader.parse(try tree.read("fullfiletimelist"))
        #expect(
            !list.entries.map(\.displayPath).contains { ["fullfiletimelist", "filelist", "imagelist"].contains($0) })
        #expect(
            String(decoding: try tree.read("filelist"), as: UTF8.self)
                == "./cloud\n./iso\n./pub\n./cloud/Fedora-Cloud.qcow2\n./iso/Fedora-40.iso\n./pub/a.rpm\n")
        #expect(
            String(decoding: try tree.read("imagelist"), as: UTF8.self)
                == "./cloud/Fedora-Cloud.qcow2\n./iso/Fedora-40.iso\n")
    }

    @Test("without -s, a list inside the tree lists the previous list")
    func withoutSkip() throws {
        let tree = try TemporaryTree("noskip")
        try tree.file("fullfiletimelist", "old")
        #expect(try createFilelist("-d", tree.root, "-t", tree.path("fullfiletimelist")).status == 0)
        let list = try FileListReader.parse(try tree.read("fullfiletimelist"))
        #expect(list.entries.map(\.displayPath) == ["fullfiletimelist"])
    }

    @Test("-S skips a name in the top directory only")
    func skipFile() throws {
        let tree = try TemporaryTree("skipname")
        try tree.file("README", "")
        try tree.file("sub/README", "")
        let result = try createFilelist("-d", tree.root, "-S", "README")
        #expect(try FileListReader.parse(result.stdout).entries.map(\.displayPath) == ["sub", "sub/README"])
    }

    @Test("--if-changed leaves an unchanged list alone: same inode, same mtime")
    func ifChanged() throws {
        let tree = try TemporaryTree("ifchanged")
        try tree.file("pub/a.rpm", "a")
        let out = try TemporaryTree("ifchanged-out")
        let target = out.path("fullfiletimelist")
        #expect(try createFilelist("-d", tree.root, "-t", target, "--if-changed").status == 0)
        var times = [timespec(tv_sec: 1_000_000_000, tv_nsec: 0), timespec(tv_sec: 1_000_000_000, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, target, &times, 0) == 0)
        let inode = try out.inode("fullfiletimelist")

        let again = try createFilelist("-d", tree.root, "-t", target, "--if-changed", "-v")
        #expect(again.status == 0)
        #expect(again.stderr.contains("unchanged"))
        #expect(try out.inode("fullfiletimelist") == inode)
        let mtime = try FileManager.default.attributesOfItem(atPath: target)[.modificationDate] as? Date
        #expect(mtime == Date(timeIntervalSince1970: 1_000_000_000))

        try tree.file("pub/b.rpm", "b")
        #expect(try createFilelist("-d", tree.root, "-t", target, "--if-changed").status == 0)
        #expect(try out.inode("fullfiletimelist") != inode)
        #expect(try FileListReader.parse(try out.read("fullfiletimelist")).entries.count == 3)
    }

    @Test("a dangling symlink gives a 'Could not stat' warning and exit status 0")
    func danglingWarning() throws {
        let tree = try TemporaryTree("dangling")
        try tree.symlink("broken", to: "nowhere")
        try tree.file("ok", "")
        let result = try createFilelist("-d", tree.root)
        #expect(result.status == 0)
        #expect(result.stderr.contains("Could not stat"))
        #expect(result.stderr.contains("broken"))
        #expect(try FileListReader.parse(result.stdout).entries.map(\.displayPath) == ["ok"])
    }

    struct BadInput: Sendable, CustomTestStringConvertible {
        var name: String
        var arguments: @Sendable (_ tree: TemporaryTree, _ target: String) -> [String]
        var mentions: @Sendable (_ tree: TemporaryTree) -> String
        var testDescription: String { name }
    }

    static let badInputs: [BadInput] = [
        BadInput(
            name: "missing -d directory",
            arguments: { tree, target in ["-d", tree.path("no-such-dir"), "-t", target] },
            mentions: { $0.path("no-such-dir") }),
        BadInput(
            name: "-d names a file",
            arguments: { tree, target in ["-d", tree.path("list-dir/fullfiletimelist"), "-t", target] },
            mentions: { $0.path("list-dir/fullfiletimelist") }),
        BadInput(
            name: "unwritable -t target",
            arguments: { tree, _ in ["-d", tree.root, "-t", tree.path("list-dir/fullfiletimelist/x")] },
            mentions: { $0.path("list-dir/fullfiletimelist/x") }),
        BadInput(
            name: "unknown option",
            arguments: { tree, target in ["-d", tree.root, "-t", target, "--frobnicate"] },
            mentions: { _ in "--frobnicate" }),
        BadInput(
            name: "unknown checksum algorithm",
            arguments: { tree, target in ["-d", tree.root, "-t", target, "--checksum-algorithms", "sha1,crc"] },
            mentions: { _ in "crc" }),
    ]

    @Test(
        "bad input gives one line naming the problem, a non-zero exit, and the old list untouched", arguments: badInputs
    )
    func badInput(_ input: BadInput) throws {
        let tree = try TemporaryTree("bad")
        try tree.file("pub/a.rpm", "a")
        let target = try tree.file("list-dir/fullfiletimelist", "previous list\n")
        let inode = try tree.inode("list-dir/fullfiletimelist")
        let result = try Command.run("create-filelist", input.arguments(tree, target))
        #expect(result.status != 0)
        #expect(result.stderrLines.count == 1, "one line: \(result.stderr)")
        #expect(result.stderr.contains(input.mentions(tree)))
        #expect(result.stdout.isEmpty)
        #expect(try tree.read("list-dir/fullfiletimelist") == Array("previous list\n".utf8))
        #expect(try tree.inode("list-dir/fullfiletimelist") == inode)
        #expect(try tree.names(in: "list-dir") == ["fullfiletimelist"])
    }
}
