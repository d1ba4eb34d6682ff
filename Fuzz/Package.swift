// swift-tools-version: 6.0
// libFuzzer targets for the parsers that read what others send or write: lists, deltas,
// quick-mirror's and filelistd's config files, mirror-cache's request targets. A package
// of its own, so that the main build never sees the sanitizer flags. Build and run with
// `Fuzz/run.sh` (see there); the flags are
//   swift build -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
// mirror-cache's request-target parser depends on nothing, but its module on a whole HTTP
// stack: it is compiled from its very source file (a symbolic link into ../Sources).
import PackageDescription

let package = Package(
    name: "QuickMirrorFuzz",
    dependencies: [.package(name: "QuickMirror", path: "../")],
    targets: [
        .target(name: "CFuzzDriver"),
        .executableTarget(
            name: "fuzz-filelist-reader",
            dependencies: ["CFuzzDriver", .product(name: "FileList", package: "QuickMirror")]),
        .executableTarget(
            name: "fuzz-delta-decoder",
            dependencies: ["CFuzzDriver", .product(name: "FileList", package: "QuickMirror")]
        ),
        .executableTarget(
            name: "fuzz-daemon-config",
            dependencies: ["CFuzzDriver", .product(name: "ListDaemon", package: "QuickMirror")]),
        .executableTarget(
            name: "fuzz-shell-config",
            dependencies: ["CFuzzDriver", .product(name: "MirrorClient", package: "QuickMirror")]),
        .executableTarget(name: "fuzz-request-target", dependencies: ["CFuzzDriver"]),
    ]
)
