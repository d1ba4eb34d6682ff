import Foundation

/// Reads quick-fedora-mirror.conf without executing it. The reference sources its
/// configuration in zsh; what such files hold is read here as the shell would read it:
/// `KEY=value` lines, quoted strings, backslash escapes, arrays `(a b c)` (possibly over
/// several lines), associative arrays `MAP=(key value ...)` or `([key]=value ...)`,
/// element assignments `MAP[key]=value`, appends `KEY+=(...)`, `~/` at a word's start,
/// `$((integer arithmetic))`, and `$VAR`/`${VAR}` from keys defined earlier, then from
/// the environment. Nothing is run: `$(...)` and backticks are errors, and a reference
/// to a name that is neither is an error rather than a silent empty string. `$mdir` is
/// left as written: the reference substitutes it per module later.
public struct ShellConfigParser {
    public struct Problem: Error, CustomStringConvertible, Equatable {
        public var file: String
        public var line: Int
        public var message: String
        public var description: String { line > 0 ? "\(file): line \(line): \(message)" : "\(file): \(message)" }
    }

    public private(set) var warnings: [Problem] = []
    /// The environment `$VAR` falls back to; tests pass their own.
    public var environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    /// Every key the reference client reads (its `set_default_vars`, `read_config`, the
    /// check-in), and quick-mirror's own. A key outside this set is warned about.
    static let knownKeys: Set<String> = [
        "DESTD", "TIMEFILE", "REMOTE", "MASTERMODULE", "MODULES", "MODULEMAPPING", "MIRRORBUFFET", "FILELIST",
        "EXTRAFILES", "FILTEREXP", "PREBITFLIP", "RSYNC", "RSYNCOPTS", "RSYNCTIMEOUT", "MAXRETRIES", "VERBOSE",
        "LOGFILE", "LOGITEMS", "LOGJOURNAL", "KEEPDIRTIMES", "WARNDELAY", "TMPDIR", "CURL", "NORSYNCRECOVERY",
        "CHECKIN_SITE", "CHECKIN_PASSWORD", "CHECKIN_HOST", "MIRRORMANAGER", "MAXCHECKINRETRIES",
        "MIRRORMANAGERMAPPING", "MIRRORMANAGERMODULEMAPPING", "REPORT_MIRROR",
        // quick-mirror's own.
        "LISTSOURCE", "NOTIFYFILELISTD", "METRICSFILE", "TRACEFILE",
    ]

    /// What `KEY+=(...)` adds to when the file has not set KEY: the reference's default.
    static let arrayDefaults = ["MODULES": ClientConfiguration().modules, "EXTRAFILES": ClientConfiguration().extraFiles]

    /// What a reference to a key the file has not set yet finds: the reference sets its
    /// defaults before it sources the file, so `MODULES=($MODULES fedora-archive)` adds
    /// to them. RSYNCOPTS is empty here because ours are always passed (it adds to them).
    static let referenceDefaults: [String: [String]] = {
        let defaults = ClientConfiguration()
        return arrayDefaults.merging([
            "RSYNCOPTS": [], "REMOTE": [defaults.remote], "MASTERMODULE": [defaults.masterModule],
            "RSYNC": [defaults.rsyncExecutable], "FILELIST": [defaults.fileList],
            "RSYNCTIMEOUT": [String(defaults.rsyncTimeout)], "MAXRETRIES": [String(defaults.maxRetries)],
            "VERBOSE": [String(defaults.verbose)], "LOGITEMS": [defaults.logItems],
            "WARNDELAY": [String(defaults.warnDelay)],
        ]) { $1 }
    }()

    /// The value of `name` as a later line sees it: set in the file, else the default.
    private func value(of name: String) -> [String]? { values[name] ?? Self.referenceDefaults[name] }

    /// Whole assignments, then element assignments (`MAP[key]=value`) made after them.
    private var values: [String: [String]] = [:]
    private var exported: Set<String> = []
    private var elements: [String: [(String, String)]] = [:]
    private var lineOf: [String: Int] = [:]

    public mutating func parse(_ text: String, file: String) throws(Problem) -> ClientConfiguration {
        values = [:]
        elements = [:]
        exported = []
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)[...]
        var number = 0
        var unknown: [(key: String, line: Int)] = []
        while let raw = lines.popFirst() {
            number += 1
            let startLine = number
            var line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            var declaration = false
            var exports = false
            for prefix in ["export ", "typeset ", "declare ", "local "] where line.hasPrefix(prefix) {
                line = String(line.dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces)
                declaration = true
                exports = exports || prefix == "export "
                while line.hasPrefix("-") { line = String(line.drop { $0 != " " }).trimmingCharacters(in: .whitespaces) }
            }
            guard let equals = line.firstIndex(of: "=") else {
                // `typeset -A MODULEMAPPING`: a declaration, nothing to keep; `export VAR`
                // hands a variable set earlier to rsync.
                if exports { exported.formUnion(line.split(separator: " ").map(String.init)) }
                if declaration { continue }
                throw Problem(file: file, line: startLine, message: "expected KEY=value, found '\(line)'")
            }
            var target = String(line[..<equals])
            var appends = false
            if target.hasSuffix("+") {
                appends = true
                target.removeLast()
            }
            var element: String?
            if let open = target.firstIndex(of: "["), target.hasSuffix("]") {
                element = String(target[target.index(after: open)..<target.index(before: target.endIndex)])
                target = String(target[..<open])
            }
            guard !target.isEmpty, target.first?.isNumber == false,
                target.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") })
            else {
                throw Problem(file: file, line: startLine, message: "expected KEY=value, found '\(line)'")
            }
            var rest = Self.stripComment(String(line[line.index(after: equals)...]))
            var words: [String]
            if rest.hasPrefix("(") {
                // An array may continue over several lines until its ')'.
                while !Self.closesArray(rest) {
                    guard let next = lines.popFirst() else {
                        throw Problem(file: file, line: startLine, message: "array '\(target)' has no closing ')'")
                    }
                    number += 1
                    rest += " " + Self.stripComment(next)
                }
                let inner = rest.dropFirst().prefix { $0 != ")" }
                words = try self.words(String(inner), file: file, line: startLine)
            } else {
                words = [try self.words(rest, file: file, line: startLine).joined(separator: " ")]
            }
            if exports { exported.insert(target) }
            if !Self.knownKeys.contains(target) && !target.hasPrefix("CHECKIN_HOST_") {
                unknown.append((target, startLine))
            }
            lineOf[target] = startLine
            if let element {
                elements[target, default: []].append((element, words.joined(separator: " ")))
            } else if appends {
                values[target, default: Self.arrayDefaults[target] ?? []] += words
            } else {
                values[target] = words
                elements[target] = nil
            }
        }
        // An exported variable is for rsync (RSYNC_PASSWORD...), not a key of ours; it
        // may be exported after it is set.
        for (key, line) in unknown where !exported.contains(key) {
            warnings.append(Problem(file: file, line: line, message: "unknown key '\(key)' ignored"))
        }
        return try configuration(file: file)
    }

    private func configuration(file: String) throws(Problem) -> ClientConfiguration {
        var configuration = ClientConfiguration()
        func single(_ key: String) -> String? { values[key].map { $0.joined(separator: " ") } }
        func flag(_ key: String) -> Bool? {
            // The reference tests `[[ -n $KEY ]]`: any non-empty value is on, even 0.
            single(key).map { !$0.isEmpty }
        }
        func number(_ key: String) throws(Problem) -> Int? {
            guard let text = single(key), !text.isEmpty else { return nil }
            guard let value = Int(text) else {
                throw Problem(file: file, line: lineOf[key] ?? 0, message: "\(key) must be a number, not '\(text)'")
            }
            return value
        }
        func map(_ key: String, default base: [String: String]) throws(Problem) -> [String: String] {
            var result = base
            if let words = values[key] {
                result = try Self.pairs(words, key: key, file: file, line: lineOf[key] ?? 0)
            }
            for (name, value) in elements[key] ?? [] { result[name] = value }
            return result
        }
        configuration.destination = single("DESTD") ?? ""
        configuration.timeFile = single("TIMEFILE").flatMap { $0.isEmpty ? nil : $0 }
        configuration.remote = single("REMOTE") ?? configuration.remote
        // A local directory as REMOTE (quick-mirror's extension) is the master module
        // itself unless MASTERMODULE says otherwise; rsync:// gets the reference's default.
        configuration.masterModule =
            single("MASTERMODULE") ?? (configuration.remote.hasPrefix("/") ? "" : configuration.masterModule)
        configuration.modules = values["MODULES"] ?? configuration.modules
        configuration.mirrorBuffet = flag("MIRRORBUFFET") ?? false
        configuration.moduleMapping = try map("MODULEMAPPING", default: configuration.moduleMapping)
        if let list = single("FILELIST") { configuration.fileList = list }
        configuration.extraFiles = values["EXTRAFILES"] ?? configuration.extraFiles
        configuration.filterExpression = single("FILTEREXP").flatMap { $0.isEmpty ? nil : $0 }
        configuration.preBitflip = flag("PREBITFLIP") ?? false
        configuration.rsyncExecutable = single("RSYNC").flatMap { $0.isEmpty ? nil : $0 } ?? "/usr/bin/rsync"
        configuration.rsyncOptions = values["RSYNCOPTS"] ?? []
        for name in exported {
            if let value = single(name) { configuration.exported[name] = value }
        }
        configuration.rsyncTimeout = try number("RSYNCTIMEOUT") ?? configuration.rsyncTimeout
        configuration.maxRetries = try number("MAXRETRIES") ?? configuration.maxRetries
        configuration.verbose = try number("VERBOSE") ?? 0
        configuration.logFile = single("LOGFILE").flatMap { $0.isEmpty ? nil : $0 }
        configuration.logItems = single("LOGITEMS") ?? configuration.logItems
        configuration.logJournal = flag("LOGJOURNAL") ?? false
        configuration.keepDirectoryTimes = flag("KEEPDIRTIMES") ?? false
        configuration.warnDelay = try number("WARNDELAY") ?? configuration.warnDelay
        configuration.listSource = single("LISTSOURCE").flatMap { $0.isEmpty ? nil : $0 }
        configuration.notifyFilelistd = single("NOTIFYFILELISTD").flatMap { $0.isEmpty ? nil : $0 }
        configuration.metricsFile = single("METRICSFILE").flatMap { $0.isEmpty ? nil : $0 }
        configuration.traceFile = single("TRACEFILE").flatMap { $0.isEmpty ? nil : $0 }

        var checkin = MirrorManagerCheckin.Settings()
        checkin.site = single("CHECKIN_SITE").flatMap { $0.isEmpty ? nil : $0 }
        checkin.password = single("CHECKIN_PASSWORD") ?? ""
        checkin.host = single("CHECKIN_HOST").flatMap { $0.isEmpty ? nil : $0 } ?? checkin.host
        for (key, value) in values where key.hasPrefix("CHECKIN_HOST_") && !value.isEmpty {
            checkin.hostPerModule[String(key.dropFirst("CHECKIN_HOST_".count))] = value.joined(separator: " ")
        }
        checkin.server = single("MIRRORMANAGER").flatMap { $0.isEmpty ? nil : $0 } ?? checkin.server
        checkin.maxRetries = try number("MAXCHECKINRETRIES") ?? max(configuration.maxRetries, 1)
        checkin.names = try map("MIRRORMANAGERMAPPING", default: checkin.names)
        // The reference derives this from the default MODULEMAPPING before the file is read.
        var directories = ClientConfiguration.defaultModuleMapping
        directories["fedora-enchilada"] = "fedora/linux"
        checkin.directories = try map("MIRRORMANAGERMODULEMAPPING", default: directories)
        configuration.checkin = checkin
        return configuration
    }

    /// `key value key value`, or zsh's `[key]=value` words.
    static func pairs(_ words: [String], key: String, file: String, line: Int) throws(Problem) -> [String: String] {
        var flat: [String] = []
        for word in words {
            if word.hasPrefix("["), let close = word.firstIndex(of: "]") {
                flat.append(String(word[word.index(after: word.startIndex)..<close]))
                let value = word.index(close, offsetBy: 2, limitedBy: word.endIndex) ?? word.endIndex
                flat.append(String(word[value...]))
            } else {
                flat.append(word)
            }
        }
        guard flat.count % 2 == 0 else {
            throw Problem(file: file, line: line, message: "\(key) needs pairs of module and value")
        }
        var result: [String: String] = [:]
        for index in stride(from: 0, to: flat.count, by: 2) { result[flat[index]] = flat[index + 1] }
        return result
    }

    /// Drops a `#` comment: one that starts a word, outside quotes.
    static func stripComment(_ line: String) -> String {
        var quote: Character?
        var previous: Character = " "
        var escaped = false
        for index in line.indices {
            let character = line[index]
            defer { previous = character }
            if escaped {
                escaped = false
                continue
            }
            if let open = quote {
                if character == open { quote = nil } else if character == "\\" && open == "\"" { escaped = true }
            } else if character == "\\" {
                escaped = true
            } else if character == "'" || character == "\"" {
                quote = character
            } else if character == "#" && (previous == " " || previous == "\t" || previous == "(") {
                return String(line[..<index])
            }
        }
        return line
    }

    static func closesArray(_ text: String) -> Bool {
        var quote: Character?
        var escaped = false
        for character in text.dropFirst() {
            if escaped {
                escaped = false
            } else if let open = quote {
                if character == open { quote = nil } else if character == "\\" && open == "\"" { escaped = true }
            } else if character == "\\" {
                escaped = true
            } else if character == "'" || character == "\"" {
                quote = character
            } else if character == ")" {
                return true
            }
        }
        return false
    }

    /// Splits shell words: single quotes are literal, a backslash escapes the next
    /// character, double quotes and bare words expand references.
    func words(_ text: String, file: String, line: Int) throws(Problem) -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var characters = Array(text)[...]
        while let character = characters.popFirst() {
            switch character {
            case "#" where !inWord:
                characters.removeAll()
            case " ", "\t":
                if inWord { words.append(current) }
                current = ""
                inWord = false
            case "\\":
                inWord = true
                if let next = characters.popFirst() { current.append(next) }
            case "'":
                inWord = true
                guard let close = characters.firstIndex(of: "'") else {
                    throw Problem(file: file, line: line, message: "unterminated single quote")
                }
                current += String(characters[..<close])
                characters = characters[(close + 1)...]
            case "\"":
                inWord = true
                var inner: [Character] = []
                var closed = false
                while let next = characters.popFirst() {
                    if next == "\"" {
                        closed = true
                        break
                    }
                    if next == "\\", let escaped = characters.first, "$`\"\\".contains(escaped) {
                        // Kept escaped for expand(), which then takes it literally.
                        inner += ["\\", escaped]
                        characters = characters.dropFirst()
                        continue
                    }
                    inner.append(next)
                }
                guard closed else { throw Problem(file: file, line: line, message: "unterminated double quote") }
                current += try expand(String(inner), file: file, line: line)
            case "`":
                throw Problem(
                    file: file, line: line, message: "command substitution is not supported (nothing is executed)")
            default:
                var bare: String
                if character == "$" {
                    // A reference: take its whole extent (braces or parentheses).
                    bare = "$" + Self.referenceBody(&characters)
                    // An unquoted array standing alone is its elements, one word each,
                    // as zsh expands `($MODULES fedora-archive)`.
                    let name = bare.dropFirst().trimmingCharacters(in: CharacterSet(charactersIn: "{}"))
                    if !inWord, characters.first.map({ " \t".contains($0) }) ?? true,
                        let elements = value(of: name), elements.count != 1
                    {
                        words += elements
                        continue
                    }
                } else {
                    bare = String(character)
                    while let next = characters.first, !" \t'\"\\$`".contains(next) {
                        bare.append(next)
                        characters = characters.dropFirst()
                    }
                }
                if !inWord && bare.hasPrefix("~") && (bare == "~" || bare.hasPrefix("~/")),
                    let home = environment["HOME"]
                {
                    bare = home + bare.dropFirst()
                }
                inWord = true
                current += try expand(bare, file: file, line: line)
            }
        }
        if inWord { words.append(current) }
        return words
    }

    /// After a `$`: `{NAME}`, `((arithmetic))`, `(command)` or `NAME`.
    static func referenceBody(_ characters: inout ArraySlice<Character>) -> String {
        var body = ""
        if characters.first == "{" {
            while let next = characters.popFirst() {
                body.append(next)
                if next == "}" { break }
            }
        } else if characters.first == "(" {
            var depth = 0
            while let next = characters.popFirst() {
                body.append(next)
                if next == "(" { depth += 1 }
                if next == ")" {
                    depth -= 1
                    if depth == 0 { break }
                }
            }
        } else {
            while let next = characters.first, next.isLetter || next.isNumber || next == "_" {
                body.append(next)
                characters = characters.dropFirst()
            }
        }
        return body
    }

    /// Expands references in a double-quoted string or a bare word.
    func expand(_ text: String, file: String, line: Int) throws(Problem) -> String {
        var result = ""
        var characters = Array(text)[...]
        while let character = characters.popFirst() {
            if character == "\\", let next = characters.first, "$`\"\\".contains(next) {
                result.append(next)
                characters = characters.dropFirst()
                continue
            }
            if character == "`" {
                throw Problem(
                    file: file, line: line, message: "command substitution is not supported (nothing is executed)")
            }
            guard character == "$", let first = characters.first else {
                result.append(character)
                continue
            }
            let body = Self.referenceBody(&characters)
            if first == "(" {
                guard body.hasPrefix("((") && body.hasSuffix("))") else {
                    throw Problem(
                        file: file, line: line,
                        message: "command substitution '$\(body)' is not supported (nothing is executed)")
                }
                guard let value = Self.arithmetic(String(body.dropFirst(2).dropLast(2))) else {
                    throw Problem(
                        file: file, line: line, message: "'$\(body)': only integer arithmetic (+ - * / %) within 64 bits is supported")
                }
                result += String(value)
                continue
            }
            let name = first == "{" ? String(body.dropFirst().dropLast()) : body
            if name.isEmpty {
                result.append("$")
                continue
            }
            if name == "mdir" {
                result += "$" + body
            } else if let value = value(of: name) {
                result += value.joined(separator: " ")
            } else if let value = environment[name] {
                result += value
            } else {
                throw Problem(
                    file: file, line: line,
                    message: "'$\(body)' is neither a key set earlier in the file nor in the environment")
            }
        }
        return result
    }

    /// `60 * 60 * 24` and the like: integers, + - * / %, parentheses. A step past 64-bit
    /// integers is nil (an error naming the line), not a trap: zsh would wrap silently.
    static func arithmetic(_ text: String) -> Int? {
        var tokens = Array(text.filter { !$0.isWhitespace })[...]
        func primary() -> Int? {
            if tokens.first == "(" {
                tokens = tokens.dropFirst()
                let value = sum()
                guard tokens.popFirst() == ")" else { return nil }
                return value
            }
            if tokens.first == "-" {
                tokens = tokens.dropFirst()
                guard let value = primary() else { return nil }
                let (negated, overflow) = 0.subtractingReportingOverflow(value)
                return overflow ? nil : negated
            }
            var digits = ""
            while let next = tokens.first, next.isNumber {
                digits.append(next)
                tokens = tokens.dropFirst()
            }
            return Int(digits)
        }
        func product() -> Int? {
            guard var value = primary() else { return nil }
            while let op = tokens.first, "*/%".contains(op) {
                tokens = tokens.dropFirst()
                guard let right = primary(), op == "*" || right != 0 else { return nil }
                let (result, overflow) =
                    op == "*"
                    ? value.multipliedReportingOverflow(by: right)
                    : op == "/"
                        ? value.dividedReportingOverflow(by: right) : value.remainderReportingOverflow(dividingBy: right)
                guard !overflow else { return nil }
                value = result
            }
            return value
        }
        func sum() -> Int? {
            guard var value = product() else { return nil }
            while let op = tokens.first, "+-".contains(op) {
                tokens = tokens.dropFirst()
                guard let right = product() else { return nil }
                let (result, overflow) =
                    op == "+" ? value.addingReportingOverflow(right) : value.subtractingReportingOverflow(right)
                guard !overflow else { return nil }
                value = result
            }
            return value
        }
        guard let value = sum(), tokens.isEmpty else { return nil }
        return value
    }
}
