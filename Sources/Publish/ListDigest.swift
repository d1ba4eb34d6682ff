import Crypto
import FileList

/// The one spelling of a list's digest, which is also its HTTP ETag: SHA-256, lowercase
/// hex. The writer computes it as it writes; a server that reads a list computes the same.
public enum ListDigest {
    public static func hex(of bytes: [UInt8]) -> String { hex(SHA256.hash(data: bytes)) }

    public static func hex(_ digest: SHA256.Digest) -> String { ChecksumAlgorithm.hex(digest) }
}
