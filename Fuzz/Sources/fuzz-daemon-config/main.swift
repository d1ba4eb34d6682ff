import CFuzzDriver
import ListDaemon

/// Any text as filelistd's --config file: a configuration or an error naming a line,
/// never a crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDaemonConfig(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeRawBufferPointer(start: start, count: count), as: UTF8.self)
    _ = try? ConfigFile.parse(text, path: "fuzz.conf", runtimeDirectory: "/run/filelistd")
    return 0
}

@_cdecl("fuzz_daemon_config_main")
public func entryPoint(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    qm_run_fuzzer(argc, argv) { data, size in fuzzDaemonConfig(data!, size) }
}
