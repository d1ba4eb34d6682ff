import Crypto
import FileList
import LinuxCalls
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Computes the digests of one file in a single read pass, for every algorithm asked.
struct FileHasher: Sendable {
    let algorithms: [ChecksumAlgorithm]

    func digests(
        of name: UnsafePointer<CChar>, in directory: FileDescriptor, displayPath: @autoclosure () -> String
    ) throws(SystemCallError) -> [ChecksumAlgorithm: String] {
        let file = try Linux.openat(directory, name, flags: O_RDONLY | O_NOFOLLOW, displayPath: displayPath())
        defer { try? file.close() }
        var state = Digests(algorithms)
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 18, alignment: 16)
        defer { chunk.deallocate() }
        while true {
            let count: Int
            do {
                count = try file.read(into: chunk)
            } catch {
                throw SystemCallError("read", path: displayPath(), errno: error as? Errno ?? .ioError)
            }
            if count == 0 { break }
            state.update(UnsafeRawBufferPointer(rebasing: chunk[..<count]))
        }
        return state.finalize()
    }

    /// All of swift-crypto's hash functions share one protocol; this keeps one of each
    /// requested kind so a file is read once whatever the number of algorithms.
    private struct Digests {
        var sha1: Insecure.SHA1?
        var md5: Insecure.MD5?
        var sha256: SHA256?
        var sha512: SHA512?

        init(_ algorithms: [ChecksumAlgorithm]) {
            for algorithm in algorithms {
                switch algorithm {
                case .sha1: sha1 = Insecure.SHA1()
                case .md5: md5 = Insecure.MD5()
                case .sha256: sha256 = SHA256()
                case .sha512: sha512 = SHA512()
                }
            }
        }

        mutating func update(_ bytes: UnsafeRawBufferPointer) {
            sha1?.update(bufferPointer: bytes)
            md5?.update(bufferPointer: bytes)
            sha256?.update(bufferPointer: bytes)
            sha512?.update(bufferPointer: bytes)
        }

        func finalize() -> [ChecksumAlgorithm: String] {
            var result: [ChecksumAlgorithm: String] = [:]
            if let sha1 { result[.sha1] = hex(sha1.finalize()) }
            if let md5 { result[.md5] = hex(md5.finalize()) }
            if let sha256 { result[.sha256] = hex(sha256.finalize()) }
            if let sha512 { result[.sha512] = hex(sha512.finalize()) }
            return result
        }

        private func hex(_ digest: some Digest) -> String { ChecksumAlgorithm.hex(digest) }

    }
}
