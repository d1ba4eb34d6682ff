import CFuzzDriver
import FileList

/// Any bytes: the strict reader either refuses them with an error or returns a list, and
/// the entries of a list it returns, written back by the writer, read as the same entries.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFileListReader(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    guard let list = try? FileListReader.parse(bytes, source: "fuzz") else { return 0 }
    let written = FileListFormat.render(entries: list.entries, algorithms: [], version: list.version)
    let again = try? FileListReader.parse(written, source: "fuzz, written again")
    precondition(again?.entries == list.entries, "entries the reader accepted do not survive the writer")
    return 0
}

@_cdecl("fuzz_filelist_reader_main")
public func entryPoint(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    qm_run_fuzzer(argc, argv) { data, size in fuzzFileListReader(data!, size) }
}
