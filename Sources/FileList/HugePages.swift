#if canImport(Glibc)
    import Glibc
#endif

/// Faulting in a 100 MB list a 4 KiB page at a time took as long as reading the lines
/// in it. Where transparent huge pages are given on request (the `madvise` mode, most
/// distributions' default), asking for them makes that 50 faults of 2 MiB.
public enum HugePages {
    /// Asks for huge pages for the 2 MiB-aligned part of `buffer`, before it is written.
    public static func advise(_ buffer: UnsafeMutableRawBufferPointer) {
        #if canImport(Glibc)
            let huge = 2 << 20
            guard buffer.count >= 2 * huge, let base = buffer.baseAddress else { return }
            let start = (Int(bitPattern: base) + huge - 1) & ~(huge - 1)
            let end = (Int(bitPattern: base) + buffer.count) & ~(huge - 1)
            // The one system call of FileList, here rather than in LinuxCalls: advice about
            // memory, with no file and no error to report, and FileList depends on nothing.
            _ = madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, MADV_HUGEPAGE)
        #endif
    }
}
