/// The paths an operator (or a push tool on another host) asks the daemon to read again:
/// each must name a place inside the watched tree, and with modules inside a module.
/// Anything else is refused with one line, and nothing is read.
enum RescanPath {
    /// The module (index into `prefixes`, the modules' names or one empty prefix for a
    /// single tree) and the path relative to it.
    static func resolve(_ given: String, root: String, trees prefixes: [[UInt8]]) -> Result<(Int, [UInt8]), Refusal> {
        var path = Substring(given)
        if path.hasPrefix("/") {
            let top = root.hasSuffix("/") ? String(root.dropLast()) : root
            guard path == top || path.hasPrefix(top + "/") else {
                return .failure(Refusal("'\(given)' is outside the tree '\(root)'"))
            }
            path = path.dropFirst(top.count)
        }
        let components = path.split(separator: "/", omittingEmptySubsequences: true)
        if let bad = components.first(where: { $0 == ".." || $0 == "." }) {
            return .failure(Refusal("'\(given)' has a '\(bad)' component: give a path inside the tree"))
        }
        let bytes = components.map { Array($0.utf8) }
        if prefixes == [[]] { return .success((0, Array(bytes.joined(separator: [0x2F])))) }
        guard let first = bytes.first, let module = prefixes.firstIndex(of: first) else {
            let names = prefixes.map { String(decoding: $0, as: UTF8.self) }.joined(separator: ", ")
            return .failure(Refusal("'\(given)' is not inside a module (\(names))"))
        }
        return .success((module, Array(bytes.dropFirst().joined(separator: [0x2F]))))
    }

    struct Refusal: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
