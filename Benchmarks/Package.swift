// swift-tools-version: 6.0
import PackageDescription

// Benchmarks live in their own package so the main build never pulls in their
// dependencies. They measure the release binaries of the main package as an operator
// runs them: as separate processes, wall time and peak RSS from wait4(2).
let package = Package(
    name: "QuickMirrorBenchmarks",
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2")
    ],
    targets: [
        .executableTarget(
            name: "filelist-bench",
            dependencies: [.product(name: "ArgumentParser", package: "swift-argument-parser")]
        )
    ]
)
