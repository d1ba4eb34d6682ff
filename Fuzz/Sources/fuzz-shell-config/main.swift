import CFuzzDriver
import MirrorClient

/// Any text as quick-fedora-mirror.conf: a configuration or an error naming a line,
/// never a crash; nothing in it is executed.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzShellConfig(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeRawBufferPointer(start: start, count: count), as: UTF8.self)
    var parser = ShellConfigParser(environment: ["HOME": "/root"])
    _ = try? parser.parse(text, file: "fuzz.conf")
    return 0
}

@_cdecl("fuzz_shell_config_main")
public func entryPoint(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    qm_run_fuzzer(argc, argv) { data, size in fuzzShellConfig(data!, size) }
}
