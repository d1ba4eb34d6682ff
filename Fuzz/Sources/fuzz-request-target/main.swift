import CFuzzDriver

/// Any request target: refused, or a key that names a file below the cache directory
/// (no `.`/`..` component, no NUL, no empty component), whatever the encoding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequestTarget(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeRawBufferPointer(start: start, count: count), as: UTF8.self)
    guard let (target, _) = try? RequestTarget.parse(text, upstreams: ["http://upstream/pub"]) else { return 0 }
    // By bytes: a `/` followed by a combining mark is one Character with it.
    let components = target.key.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).map {
        String(decoding: $0, as: UTF8.self)
    }
    precondition(components.first == "reverse" || components.first == "proxy", "key outside its area: \(target.key)")
    for component in components {
        precondition(!component.isEmpty && component != "." && component != "..", "key escapes: \(target.key)")
    }
    precondition(!target.key.utf8.contains(0), "NUL in key")
    // A slash of the path is a slash upstream, never `%2F` (which servers refuse or
    // read as part of a name).
    precondition(!target.upstreamPath.contains("%2F"), "a separator sent as %2F: \(target.upstreamPath)")
    // The path sent upstream decodes back to the same components.
    let again = try? RequestTarget.parse(target.upstreamPath, upstreams: ["http://upstream/pub"])
    if target.listedPath != nil {
        precondition(again?.0.key == target.key, "re-encoded path names another file: \(target.key)")
    }
    return 0
}

@_cdecl("fuzz_request_target_main")
public func entryPoint(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    qm_run_fuzzer(argc, argv) { data, size in fuzzRequestTarget(data!, size) }
}
