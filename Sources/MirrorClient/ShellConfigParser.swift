/// Reads quick-fedora-mirror.conf without executing it: `KEY=value` lines, quoted
/// strings, arrays `(a b c)` (possibly over several lines), the associative
/// `MODULEMAPPING=(module dir ...)` (also in `[module]=dir` form), and `$VAR`
/// references to keys defined earlier. Nothing is run: a config is data.
public struct ShellConfigParser {
    public struct Problem: Error, CustomStringConvertible, Equatable {
        public var file: String
        public var line: Int
        public var message: String
        public var description: String { "\(file): line \(line): \(message)" }
    }

    public private(set) var warnings: [Problem] = []

    public init() {}

    static let knownKeys: Set<String> = [
        "DESTD", "TIMEFILE", "REMOTE", "MASTERMODULE", "MODULES", "MODULEMAPPING", "FILELIST", "EXTRAFILES",
        "FILTEREXP", "PREBITFLIP", "RSYNCOPTS", "RSYNCTIMEOUT", "MAXRETRIES", "VERBOSE", "LOGFILE", "LOGJOURNAL",
        "KEEPDIRTIMES", "LISTSOURCE", "NOTIFYFILELISTD",
        // Keys of the reference client that change nothing here; accepted quietly.
        "TMPDIR", "RSYNC", "CHECKIN_SITE", "CHECKIN_HOST", "CHECKIN_PASSWORD", "REPORT_MIRROR", "MIRRORMANAGER",
    ]

    public mutating func parse(_ text: String, file: String) throws(Problem) -> ClientConfiguration {
        var values: [String: [String]] = [:]
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)[...]
        var number = 0
        while let raw = lines.popFirst() {
            number += 1
            let startLine = number
            var line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line = String(line.dropFirst(7)).trimmingCharacters(in: .whitespaces) }
            guard let equals = line.firstIndex(of: "="),
                line[..<equals].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }), equals != line.startIndex
            else {
                throw Problem(file: file, line: startLine, message: "expected KEY=value, found '\(line)'")
            }
            let key = String(line[..<equals])
            var rest = Self.stripComment(String(line[line.index(after: equals)...]))
            var words: [String]
            if rest.hasPrefix("(") {
                // An array may continue over several lines until its ')'.
                while !Self.closesArray(rest) {
                    guard let next = lines.popFirst() else {
                        throw Problem(file: file, line: startLine, message: "array '\(key)' has no closing ')'")
                    }
                    number += 1
                    rest += " " + Self.stripComment(next)
                }
                let inner = rest.dropFirst().prefix { $0 != ")" }
                words = try Self.words(String(inner), values: values, file: file, line: startLine)
            } else {
                words = try Self.words(rest, values: values, file: file, line: startLine)
                words = [words.joined(separator: " ")]
            }
            if !Self.knownKeys.contains(key) {
                warnings.append(Problem(file: file, line: startLine, message: "unknown key '\(key)' ignored"))
            }
            values[key] = words
        }
        return try configuration(from: values, file: file)
    }

    private func configuration(from values: [String: [String]], file: String) throws(Problem) -> ClientConfiguration {
        var configuration = ClientConfiguration()
        func single(_ key: String) -> String? { values[key].map { $0.joined(separator: " ") } }
        func number(_ key: String) throws(Problem) -> Int? {
            guard let text = single(key) else { return nil }
            guard let value = Int(text) else { throw Problem(file: file, line: 0, message: "\(key) must be a number") }
            return value
        }
        configuration.destination = single("DESTD") ?? ""
        configuration.timeFile = single("TIMEFILE")
        configuration.remote = single("REMOTE") ?? ""
        configuration.masterModule = single("MASTERMODULE") ?? ""
        configuration.modules = values["MODULES"] ?? []
        if let mapping = values["MODULEMAPPING"] {
            var pairs: [String] = []
            for word in mapping {
                // zsh's [module]=dir form, or plain pairs.
                if word.hasPrefix("["), let close = word.firstIndex(of: "]") {
                    pairs.append(String(word[word.index(after: word.startIndex)..<close]))
                    let value = word.index(close, offsetBy: 2, limitedBy: word.endIndex) ?? word.endIndex
                    pairs.append(String(word[value...]))
                } else {
                    pairs.append(word)
                }
            }
            guard pairs.count % 2 == 0 else {
                throw Problem(file: file, line: 0, message: "MODULEMAPPING needs pairs of module and directory")
            }
            for index in stride(from: 0, to: pairs.count, by: 2) {
                configuration.moduleMapping[pairs[index]] = pairs[index + 1]
            }
        }
        if let list = single("FILELIST") { configuration.fileList = list }
        configuration.extraFiles = values["EXTRAFILES"] ?? []
        configuration.filterExpression = single("FILTEREXP").flatMap { $0.isEmpty ? nil : $0 }
        configuration.preBitflip = !(single("PREBITFLIP") ?? "").isEmpty
        configuration.rsyncOptions = values["RSYNCOPTS"] ?? []
        configuration.rsyncTimeout = try number("RSYNCTIMEOUT") ?? configuration.rsyncTimeout
        configuration.maxRetries = try number("MAXRETRIES") ?? configuration.maxRetries
        configuration.verbose = try number("VERBOSE") ?? 0
        configuration.logFile = single("LOGFILE").flatMap { $0.isEmpty ? nil : $0 }
        configuration.logJournal = !(single("LOGJOURNAL") ?? "").isEmpty
        configuration.keepDirectoryTimes = !(single("KEEPDIRTIMES") ?? "").isEmpty
        configuration.listSource = single("LISTSOURCE").flatMap { $0.isEmpty ? nil : $0 }
        configuration.notifyFilelistd = single("NOTIFYFILELISTD").flatMap { $0.isEmpty ? nil : $0 }
        return configuration
    }

    /// Drops a `#` comment: one that starts a word, outside quotes.
    static func stripComment(_ line: String) -> String {
        var quote: Character?
        var previous: Character = " "
        for index in line.indices {
            let character = line[index]
            if let open = quote {
                if character == open { quote = nil }
            } else if character == "'" || character == "\"" {
                quote = character
            } else if character == "#" && (previous == " " || previous == "\t" || previous == "(") {
                return String(line[..<index])
            }
            previous = character
        }
        return line
    }

    static func closesArray(_ text: String) -> Bool {
        var quote: Character?
        for character in text.dropFirst() {
            if let open = quote {
                if character == open { quote = nil }
            } else if character == "'" || character == "\"" {
                quote = character
            } else if character == ")" {
                return true
            }
        }
        return false
    }

    /// Splits shell words: single quotes are literal, double quotes and bare words expand
    /// `$KEY`/`${KEY}` from keys already read (unknown names stay as written, e.g. `$mdir`).
    static func words(_ text: String, values: [String: [String]], file: String, line: Int) throws(Problem) -> [String] {
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
            case "'":
                inWord = true
                guard let close = characters.firstIndex(of: "'") else {
                    throw Problem(file: file, line: line, message: "unterminated single quote")
                }
                current += String(characters[..<close])
                characters = characters[(close + 1)...]
            case "\"":
                inWord = true
                guard let close = characters.firstIndex(of: "\"") else {
                    throw Problem(file: file, line: line, message: "unterminated double quote")
                }
                current += expand(String(characters[..<close]), values: values)
                characters = characters[(close + 1)...]
            case "`":
                throw Problem(
                    file: file, line: line, message: "command substitution is not supported (nothing is executed)")
            case "$" where characters.first == "(":
                throw Problem(
                    file: file, line: line, message: "command substitution is not supported (nothing is executed)")
            default:
                inWord = true
                var bare = String(character)
                while let next = characters.first, !" \t'\"#".contains(next) {
                    bare.append(next)
                    characters = characters.dropFirst()
                }
                current += expand(bare, values: values)
            }
        }
        if inWord { words.append(current) }
        return words
    }

    static func expand(_ text: String, values: [String: [String]]) -> String {
        var result = ""
        var characters = Array(text)[...]
        while let character = characters.popFirst() {
            guard character == "$" else {
                result.append(character)
                continue
            }
            var name = ""
            if characters.first == "{" {
                characters = characters.dropFirst()
                while let next = characters.popFirst(), next != "}" { name.append(next) }
                if let value = values[name] { result += value.joined(separator: " ") } else { result += "${\(name)}" }
            } else {
                while let next = characters.first, next.isLetter || next.isNumber || next == "_" {
                    name.append(next)
                    characters = characters.dropFirst()
                }
                if let value = values[name] { result += value.joined(separator: " ") } else { result += "$\(name)" }
            }
        }
        return result
    }
}
