import CFuzzDriver
import FileList

/// Any bytes: the decoder either refuses them or returns a delta whose encoding decodes
/// to the same delta.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDeltaDecoder(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    guard let delta = try? FileListDelta(decoding: bytes, source: "fuzz") else { return 0 }
    let again = try? FileListDelta(decoding: delta.encoded(), source: "fuzz, encoded again")
    precondition(again == delta, "a decoded delta's own encoding decodes to another delta")
    return 0
}

@_cdecl("fuzz_delta_decoder_main")
public func entryPoint(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    qm_run_fuzzer(argc, argv) { data, size in fuzzDeltaDecoder(data!, size) }
}
