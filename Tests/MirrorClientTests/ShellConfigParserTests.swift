import MirrorClient
import Testing

@Suite("quick-fedora-mirror.conf is read as data")
struct ShellConfigParserTests {
    static let reference = """
        # A typical quick-fedora-mirror.conf
        DESTD=/srv/mirror
        TIMEFILE=$DESTD/.timefile
        REMOTE=rsync://dl.example.org
        MASTERMODULE=fedora-buffet
        MODULES=(fedora-enchilada
                 fedora-epel   # EPEL too
                 fedora-alt)
        MODULEMAPPING=([fedora-enchilada]=fedora [fedora-epel]=epel [fedora-alt]=alt)
        FILELIST='fullfiletimelist-$mdir'
        EXTRAFILES=(fedora/extras.txt "epel/with space.txt")
        FILTEREXP='(/i386/|/source/)'
        PREBITFLIP=1
        RSYNCOPTS=(-4 --bwlimit=1000)
        MAXRETRIES=5
        VERBOSE=2
        LOGFILE="${DESTD}/quick-mirror.log"
        """

    @Test("every key of the reference client, with arrays, quoting and $VAR references")
    func referenceSyntax() throws {
        var parser = ShellConfigParser()
        let configuration = try parser.parse(Self.reference, file: "qfm.conf")
        #expect(parser.warnings.isEmpty)
        #expect(configuration.destination == "/srv/mirror")
        #expect(configuration.timeFile == "/srv/mirror/.timefile")
        #expect(configuration.remote == "rsync://dl.example.org")
        #expect(configuration.masterModule == "fedora-buffet")
        #expect(configuration.modules == ["fedora-enchilada", "fedora-epel", "fedora-alt"])
        #expect(configuration.directory(of: "fedora-epel") == "epel")
        #expect(configuration.fileListName(of: "fedora-alt") == "fullfiletimelist-alt")
        #expect(configuration.extraFiles == ["fedora/extras.txt", "epel/with space.txt"])
        #expect(configuration.filterExpression == "(/i386/|/source/)")
        #expect(configuration.preBitflip)
        #expect(configuration.rsyncOptions == ["-4", "--bwlimit=1000"])
        #expect(configuration.maxRetries == 5)
        #expect(configuration.verbose == 2)
        #expect(configuration.logFile == "/srv/mirror/quick-mirror.log")
    }

    @Test("MODULEMAPPING also reads as plain pairs")
    func plainPairs() throws {
        var parser = ShellConfigParser()
        let configuration = try parser.parse("MODULEMAPPING=(fedora-enchilada fedora fedora-epel epel)", file: "c")
        #expect(configuration.moduleMapping == ["fedora-enchilada": "fedora", "fedora-epel": "epel"])
    }

    @Test("an unknown key is a warning naming its line")
    func unknownKey() throws {
        var parser = ShellConfigParser()
        _ = try parser.parse("DESTD=/srv\nCOLOUR=blue\n", file: "qfm.conf")
        #expect(parser.warnings.map(\.description) == ["qfm.conf: line 2: unknown key 'COLOUR' ignored"])
    }

    @Test(
        "syntax errors name the line; nothing is executed",
        arguments: [
            ("DESTD=/srv\nthis is not an assignment\n", 2, "expected KEY=value"),
            ("MODULES=(a b\n", 1, "no closing ')'"),
            ("DESTD='/srv\n", 1, "unterminated single quote"),
            ("DESTD=$(rm -rf /)\n", 1, "command substitution"),
            ("DESTD=`id`\n", 1, "command substitution"),
        ])
    func syntaxErrors(text: String, line: Int, message: String) {
        var parser = ShellConfigParser()
        #expect {
            _ = try parser.parse(text, file: "qfm.conf")
        } throws: { error in
            guard let problem = error as? ShellConfigParser.Problem else { return false }
            return problem.line == line && problem.message.contains(message)
        }
    }
}
