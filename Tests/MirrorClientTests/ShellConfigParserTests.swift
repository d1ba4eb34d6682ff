import MirrorClient
import Testing
import TreeFixtures

@Suite("quick-fedora-mirror.conf is read as data", .ownThread)
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

    @Test("a reference to a key not set yet finds the reference's default; an unquoted array is its elements")
    func referencesToDefaultsAndArrays() throws {
        var parser = ShellConfigParser()
        let configuration = try parser.parse(
            """
            DESTD=/srv/mirror
            MODULES=($MODULES fedora-archive)
            RSYNCOPTS=($RSYNCOPTS --bwlimit=1000)
            REMOTE=${REMOTE}/pub
            EXTRA=(a b)
            EXTRAFILES=($EXTRA "c d" $EXTRA)
            """, file: "qfm.conf")
        #expect(configuration.modules == ["fedora-enchilada", "fedora-epel", "fedora-archive"])
        #expect(configuration.rsyncOptions == ["--bwlimit=1000"])
        #expect(configuration.remote == "rsync://dl.fedoraproject.org/pub")
        #expect(configuration.extraFiles == ["a", "b", "c d", "a", "b"])
    }

    @Test("exported variables go to rsync's environment (a password, a proxy), without an unknown-key warning")
    func exportedVariables() throws {
        var parser = ShellConfigParser()
        let configuration = try parser.parse(
            "DESTD=/srv/mirror\nexport RSYNC_PASSWORD='s3cret'\nRSYNC_PROXY=proxy.example:3128\nexport RSYNC_PROXY\nHELPER=1\n",
            file: "qfm.conf")
        #expect(configuration.exported == ["RSYNC_PASSWORD": "s3cret", "RSYNC_PROXY": "proxy.example:3128"])
        #expect(parser.warnings.map(\.message) == ["unknown key 'HELPER' ignored"])
    }

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

@Suite("quick-fedora-mirror.conf as the reference's shell reads it", .ownThread)
struct ReferenceConfigurationSyntaxTests {
    @Test("an empty file means the reference's defaults")
    func defaults() throws {
        var parser = ShellConfigParser(environment: [:])
        let configuration = try parser.parse("", file: "c")
        #expect(configuration.remote == "rsync://dl.fedoraproject.org")
        #expect(configuration.masterModule == "fedora-buffet")
        #expect(configuration.modules == ["fedora-enchilada", "fedora-epel"])
        #expect(configuration.directory(of: "fedora-enchilada") == "fedora")
        #expect(configuration.directory(of: "fedora-secondary") == "fedora-secondary")
        #expect(configuration.extraFilePaths(of: "fedora-epel") == ["epel/fullfilelist", "epel/imagelist-epel"])
        #expect(configuration.fileListName(of: "fedora-epel") == "fullfiletimelist-epel")
        #expect(configuration.maxRetries == 10)
        #expect(configuration.warnDelay == 86_400)
        #expect(configuration.logItems == "aeElrR")
        #expect(configuration.checkin.server == "https://admin.fedoraproject.org/mirrormanager/xmlrpc")
        #expect(configuration.checkin.site == nil)
    }

    @Test("$VAR and ${VAR} come from earlier keys, then the environment; \\$mdir and '$mdir' stay for later")
    func references() throws {
        var parser = ShellConfigParser(environment: ["TESTD": "/t", "HOME": "/home/m", "DESTD": "/ignored"])
        let configuration = try parser.parse(
            """
            DESTD=$TESTD/mirror
            TIMEFILE="${DESTD}/../time"
            REMOTE=rsync://host/$TESTD
            LOGFILE=~/qfm.log
            EXTRAFILES=(fullfilelist imagelist-\\$mdir "other-\\$mdir" 'single-$mdir')
            WARNDELAY=$((60 * 60 * 24 * 2))
            MODULEMAPPING[fedora-extra]=extra
            MODULES+=(fedora-extra)
            typeset -A MIRRORMANAGERMAPPING
            MIRRORMANAGERMAPPING[fedora-extra]='fedora extra'
            """, file: "c")
        #expect(parser.warnings.isEmpty, "\(parser.warnings)")
        #expect(configuration.destination == "/t/mirror", "an earlier key wins over the environment")
        #expect(configuration.timeFile == "/t/mirror/../time")
        #expect(configuration.remote == "rsync://host//t")
        #expect(configuration.logFile == "/home/m/qfm.log")
        #expect(configuration.extraFilePaths(of: "fedora-extra") == [
            "extra/fullfilelist", "extra/imagelist-extra", "extra/other-extra", "extra/single-extra",
        ])
        #expect(configuration.warnDelay == 172_800)
        #expect(configuration.modules == ["fedora-enchilada", "fedora-epel", "fedora-extra"])
        #expect(configuration.directory(of: "fedora-enchilada") == "fedora", "an element keeps the default mapping")
        #expect(configuration.checkin.names["fedora-extra"] == "fedora extra")
        #expect(configuration.checkin.names["fedora-epel"] == "fedora epel")
    }

    @Test(
        "nothing is executed, and a name that is set nowhere is an error naming the line",
        arguments: [
            ("DESTD=/srv\nREMOTE=$(hostname)\n", 2, "command substitution"),
            ("DESTD=\"`hostname`\"\n", 1, "command substitution"),
            ("DESTD=\"$(id -u)\"\n", 1, "command substitution"),
            ("DESTD=/srv\n\nTIMEFILE=$NOT_SET_ANYWHERE/t\n", 3, "NOT_SET_ANYWHERE"),
            ("WARNDELAY=$((60 * x))\n", 1, "integer arithmetic"),
        ])
    func refusals(text: String, line: Int, message: String) {
        var parser = ShellConfigParser(environment: [:])
        #expect {
            _ = try parser.parse(text, file: "qfm.conf")
        } throws: { error in
            guard let problem = error as? ShellConfigParser.Problem else { return false }
            return problem.line == line && problem.message.contains(message) && problem.file == "qfm.conf"
        }
    }

    @Test(
        "$((...)) past 64-bit integers is an error naming the line, not a trap (seed arithmetic-overflow of fuzz-shell-config)",
        arguments: [
            "DESTD=/srv\nWARNDELAY=$((9999999999 * 9999999999))\n",
            "DESTD=/srv\nWARNDELAY=$((9223372036854775807 + 1))\n",
            "DESTD=/srv\nWARNDELAY=$((-9223372036854775807 - 2))\n",
            "DESTD=/srv\nWARNDELAY=$(( (-9223372036854775807 - 1) / -1 ))\n",
            "DESTD=/srv\nWARNDELAY=$(( (-9223372036854775807 - 1) % -1 ))\n",
            "DESTD=/srv\nWARNDELAY=$(( -(-9223372036854775807 - 1) ))\n",
        ])
    func arithmeticPast64BitsNamesTheLine(text: String) {
        var parser = ShellConfigParser(environment: [:])
        #expect {
            _ = try parser.parse(text, file: "qfm.conf")
        } throws: { error in
            guard let problem = error as? ShellConfigParser.Problem else { return false }
            return problem.line == 2 && problem.message.contains("within 64 bits")
        }
    }

    @Test("$((...)) at the edge of 64-bit integers is still a number")
    func arithmeticAtTheEdge() throws {
        var parser = ShellConfigParser(environment: [:])
        let configuration = try parser.parse(
            "WARNDELAY=$((9223372036854775806 + 1))\nMAXRETRIES=$((-9223372036854775807 - 1 + 5))\n", file: "c")
        #expect(configuration.warnDelay == Int.max)
        #expect(configuration.maxRetries == Int.min + 5)
    }

    @Test("every key the reference reads is known: no warning for any of them")
    func everyReferenceKey() throws {
        let keys = [
            "DESTD", "TIMEFILE", "REMOTE", "MASTERMODULE", "MODULES", "MODULEMAPPING", "MIRRORBUFFET", "FILELIST",
            "EXTRAFILES", "FILTEREXP", "PREBITFLIP", "RSYNC", "RSYNCOPTS", "RSYNCTIMEOUT", "MAXRETRIES", "VERBOSE",
            "LOGFILE", "LOGITEMS", "LOGJOURNAL", "KEEPDIRTIMES", "WARNDELAY", "TMPDIR", "CURL", "CHECKIN_SITE",
            "CHECKIN_PASSWORD", "CHECKIN_HOST", "CHECKIN_HOST_fedora_epel", "MIRRORMANAGER", "MAXCHECKINRETRIES",
            "MIRRORMANAGERMAPPING", "MIRRORMANAGERMODULEMAPPING", "NORSYNCRECOVERY",
        ]
        var parser = ShellConfigParser(environment: [:])
        let configuration = try parser.parse(
            keys.map { $0.hasSuffix("MAPPING") ? "\($0)=(a b)" : "\($0)=\($0.contains("RETRIES") || $0.contains("DELAY") || $0 == "VERBOSE" || $0 == "RSYNCTIMEOUT" ? "3" : "x")" }
                .joined(separator: "\n"), file: "c")
        #expect(parser.warnings.isEmpty, "\(parser.warnings)")
        #expect(configuration.checkin.hostPerModule == ["fedora_epel": "x"])
        #expect(configuration.keepDirectoryTimes && configuration.mirrorBuffet)
        #expect(configuration.rsyncExecutable == "x")
        #expect(configuration.logItems == "x")
        #expect(configuration.checkin.maxRetries == 3)
    }
}
