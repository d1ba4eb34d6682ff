/// A digest a list may carry in a `[Checksums NAME]` section.
///
/// Clients from 2019 and before read every line after any `[Checksums` header as SHA1,
/// so lists carry SHA1 alone unless the operator asks for more.
public enum ChecksumAlgorithm: String, Sendable, Hashable, CaseIterable, Comparable {
    case sha1, md5, sha256, sha512

    /// The name in the section header, e.g. `SHA1` in `[Checksums SHA1]`.
    public var sectionName: String { rawValue.uppercased() }

    /// Length of the lowercase hex digest.
    public var hexLength: Int {
        switch self {
        case .sha1: 40
        case .md5: 32
        case .sha256: 64
        case .sha512: 128
        }
    }

    /// The order the reference writes the sections in.
    var sectionOrder: Int {
        switch self {
        case .sha1: 0
        case .md5: 1
        case .sha256: 2
        case .sha512: 3
        }
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.sectionOrder < rhs.sectionOrder }

    /// Parses a comma-separated list such as `sha1,md5`; `nil` names the first unknown word.
    public static func parseList(_ text: String) -> Result<[ChecksumAlgorithm], UnknownAlgorithm> {
        var result: [ChecksumAlgorithm] = []
        for word in text.split(separator: ",", omittingEmptySubsequences: true) {
            let name = word.trimmingSpaces().lowercased()
            guard let algorithm = ChecksumAlgorithm(rawValue: name) else {
                return .failure(UnknownAlgorithm(name: name))
            }
            if !result.contains(algorithm) { result.append(algorithm) }
        }
        return .success(result.sorted())
    }

    public struct UnknownAlgorithm: Error, CustomStringConvertible {
        public var name: String
        public var description: String {
            "unknown checksum algorithm '\(name)' (choose from sha1, md5, sha256, sha512)"
        }
    }
}

/// The digests of one file, keyed by algorithm.
public struct FileChecksum: Sendable, Hashable {
    public var path: [UInt8]
    /// Lowercase hex digests.
    public var hex: [ChecksumAlgorithm: String]

    public init(path: [UInt8], hex: [ChecksumAlgorithm: String]) {
        self.path = path
        self.hex = hex
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}

extension ChecksumAlgorithm {
    /// A digest's bytes as lists (and ETags, and the cache's records) spell them:
    /// lowercase hex, two digits per byte.
    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(128)  // SHA-512's 64 bytes, the longest digest a list carries
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
