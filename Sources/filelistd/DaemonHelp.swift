import ArgumentParser

/// `filelistd --help`: running the daemon is the default subcommand, so its options are
/// what an operator looks for first; ArgumentParser's root help lists only the
/// subcommands. This is the root's overview, the daemon's options, then the subcommands.
enum DaemonHelp {
    static var text: String {
        let root = Filelistd.helpMessage()
        let run = Filelistd.helpMessage(for: Filelistd.Run.self)
        let rootSections = sections(of: root)
        let runSections = sections(of: run)
        var parts: [String] = []
        parts += rootSections.filter { $0.title == "OVERVIEW" }.map(\.text)
        parts += runSections.filter { $0.title == "USAGE" }.map {
            $0.text.replacingOccurrences(of: "filelistd run ", with: "filelistd [run] ")
        }
        parts += runSections.filter { $0.title == "OPTIONS" }.map(\.text)
        parts += runSections.filter { !["OVERVIEW", "USAGE", "OPTIONS"].contains($0.title) }.map(\.text)
        parts += rootSections.filter { $0.title == "SUBCOMMANDS" }.map(\.text)
        return parts.joined(separator: "\n\n")
    }

    /// Splits help text at its `TITLE:` headings (lines in capitals at the left margin).
    static func sections(of help: String) -> [(title: String, text: String)] {
        var result: [(title: String, text: String)] = []
        for line in help.split(separator: "\n", omittingEmptySubsequences: false) {
            if let colon = line.firstIndex(of: ":"), !line.hasPrefix(" "),
                line[..<colon].allSatisfy({ $0.isUppercase || $0 == " " }), !line[..<colon].isEmpty
            {
                result.append((String(line[..<colon]), String(line)))
            } else if !result.isEmpty {
                result[result.count - 1].text += "\n" + line
            }
        }
        return result.map { ($0.title, $0.text.trimmingCharacters(in: .newlines)) }
    }
}

import Foundation
