// swift-tools-version: 6.0
import PackageDescription

// Benchmarks live in their own package so the main build never pulls in their
// dependencies. They measure the release binaries of the main package as an operator
// runs them (separate processes; wall time, and peak RSS through peak-rss), and the index
// library in-process for sizes no test tree reaches.
let package = Package(
    name: "QuickMirrorBenchmarks",
    dependencies: [
        .package(name: "QuickMirror", path: "../"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        .target(name: "BenchSupport"),
        .executableTarget(
            name: "filelist-bench",
            dependencies: [
                "BenchSupport", .product(name: "TreeFixtures", package: "QuickMirror"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The least a Hummingbird route can cost: the floor under filelistd's 304s.
        .executableTarget(
            name: "hummingbird-floor",
            dependencies: [.product(name: "Hummingbird", package: "hummingbird")]
        ),
        // The least a SwiftNIO HTTP/1 answer can cost: the floor under mirror-cache's hits.
        .executableTarget(
            name: "nio-floor",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // Thousands of /events subscribers on one filelistd and a burst of publishes:
        // every announcement delivered, the fan-out time, memory per subscriber.
        .executableTarget(name: "sse-load"),
        // The least a cache miss can cost: a relay in C, storing the body or not.
        .executableTarget(name: "relay-floor"),
        .executableTarget(
            name: "quickmirror-bench",
            dependencies: [
                "BenchSupport",
                .product(name: "TreeFixtures", package: "QuickMirror"),
                .product(name: "MirrorClient", package: "QuickMirror"),
                .product(name: "TreeIndex", package: "QuickMirror"),
                .product(name: "TreeScan", package: "QuickMirror"),
                .product(name: "FileList", package: "QuickMirror"),
                .product(name: "UpstreamListing", package: "QuickMirror"),
                .product(name: "ListTransport", package: "QuickMirror"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ]
)
