import FileList

/// The `-f` (`fullfilelist`) and `-i` (`imagelist-MODULE`) lists: `find .`-style, every
/// listed path prefixed with `./`, in list order. One writer for the one-shot generator
/// and the daemon's index, so that both give the same bytes.
public enum PathListFormat {
    public static func appendLine(
        prefix: UnsafeBufferPointer<UInt8>, name: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]
    ) {
        out.append(0x2E)
        out.append(0x2F)
        out.append(contentsOf: prefix)
        out.append(contentsOf: name)
        out.append(0x0A)
    }

    /// Whether an entry belongs in the image list: files (restricted or not) with an
    /// image suffix.
    public static func isImage(kind: EntryKind, name: UnsafeBufferPointer<UInt8>) -> Bool {
        kind == .file && EntryRules.isImage(name)
    }
}
