// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "QuickMirror",
    products: [
        .executable(name: "create-filelist", targets: ["create-filelist"]),
        .executable(name: "filelistd", targets: ["filelistd"]),
        .executable(name: "quick-mirror", targets: ["quick-mirror"]),
        .executable(name: "mirror-cache", targets: ["mirror-cache"]),
        .library(name: "FileList", targets: ["FileList"]),
        .library(name: "TreeScan", targets: ["TreeScan"]),
        .library(name: "Publish", targets: ["Publish"]),
        .library(name: "TreeIndex", targets: ["TreeIndex"]),
        .library(name: "MirrorClient", targets: ["MirrorClient"]),
        .library(name: "UpstreamListing", targets: ["UpstreamListing"]),
        .library(name: "ListTransport", targets: ["ListTransport"]),
        // Trees and fixtures the tests make, shared with the benchmarks (Benchmarks/).
        .library(name: "TreeFixtures", targets: ["TreeFixtures"]),
        // For the fuzz targets in Fuzz/ (filelistd's config file parser).
        .library(name: "ListDaemon", targets: ["ListDaemon"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/adam-fowler/compress-nio", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // The Linux calls that Glibc's module map does not export (getdents64, statx, O_TMPFILE).
        .target(name: "CLinuxFS"),
        // zlib for gzip forms made of independently compressed segments.
        .target(name: "CGzip", linkerSettings: [.linkedLibrary("z")]),
        // The benchmarks' measure of a command's peak memory (its comment says why a process).
        .executableTarget(name: "peak-rss"),
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),
        .target(name: "Systemd", dependencies: ["CSystemd", .product(name: "Logging", package: "swift-log")]),
        .target(
            name: "LinuxCalls",
            dependencies: ["CLinuxFS", .product(name: "SystemPackage", package: "swift-system")]
        ),
        .target(name: "FileList"),
        .target(
            name: "TreeScan",
            dependencies: [
                "FileList", "CLinuxFS", "LinuxCalls",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .target(
            name: "TreeIndex",
            dependencies: [
                "FileList", "TreeScan", "LinuxCalls", "CLinuxFS", "ListProtocol",
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .target(
            name: "TreeWatch",
            dependencies: [
                "TreeIndex", "TreeScan", "LinuxCalls", "CLinuxFS",
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .target(
            name: "Publish",
            dependencies: [
                "LinuxCalls", "FileList", "ListProtocol", .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "ListDaemon",
            dependencies: [
                "FileList", "TreeScan", "TreeIndex", "TreeWatch", "Publish", "Systemd", "LinuxCalls", "CLinuxFS",
                "ListProtocol", "DaemonControl",
                "Monitoring",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        // The names of the figures /metrics shows, and whether the publisher is healthy:
        // shared by the publisher, which records, and the HTTP side, which serves them.
        .target(name: "Monitoring", dependencies: [.product(name: "Metrics", package: "swift-metrics")]),
        // The list service's wire protocol: announcements and their hops, the text/event-stream
        // framing, HTTP dates, ETags of gzip forms, list file attributes. No I/O.
        .target(name: "ListProtocol", dependencies: ["FileList", .product(name: "Crypto", package: "swift-crypto")]),
        // A local filelistd's control socket: the commands, and the client that sends them.
        .target(
            name: "DaemonControl",
            dependencies: ["ListProtocol", "LinuxCalls", .product(name: "SystemPackage", package: "swift-system")]
        ),
        // What a server of ours grants its clients, enforced ahead of the HTTP decoder: head size,
        // header/idle/send timeouts, caps on connections and change streams. Used by filelistd's
        // HTTP side and by mirror-cache.
        .target(
            name: "ConnectionGuard",
            dependencies: [
                "LinuxCalls",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            ]
        ),
        // What downstream mirrors see over HTTP: the lists with ETags, deltas, the SSE change stream.
        .target(
            name: "ListService",
            dependencies: [
                "FileList", "ListProtocol", "Publish", "LinuxCalls", "Monitoring", "CGzip", "ConnectionGuard",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .target(
            name: "CommandLineSupport",
            dependencies: ["FileList", "TreeScan", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "filelistd",
            dependencies: [
                "ListDaemon", "ListService", "DaemonControl", "CommandLineSupport", "FileList", "TreeScan", "Systemd", "Monitoring",
                "ConnectionGuard", "LinuxCalls", "ListProtocol", "ListTransport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Asking a list server for lists the way a downstream does (gzip, deltas, the change
        // stream): shared by quick-mirror and mirror-cache.
        .target(
            name: "ListTransport",
            dependencies: [
                "FileList", "ListProtocol",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // The upstream's lists as mirror-cache reads them: what each path's line says, and
        // which paths each new generation changed.
        .target(
            name: "UpstreamListing",
            dependencies: [
                "FileList", "ListTransport",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "MirrorClient",
            dependencies: [
                "FileList", "TreeScan", "Publish", "LinuxCalls", "ListProtocol", "DaemonControl", "Systemd", "ListTransport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .executableTarget(
            name: "quick-mirror",
            dependencies: [
                "MirrorClient", "CommandLineSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "create-filelist",
            dependencies: [
                "FileList", "TreeScan", "Publish", "CommandLineSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The fetch-through cache: one upstream fetch per object, verified, list-driven freshness.
        .target(
            name: "MirrorCache",
            dependencies: [
                "UpstreamListing", "ListTransport", "LinuxCalls", "ListProtocol", "FileList", "ConnectionGuard",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .executableTarget(
            name: "mirror-cache",
            dependencies: [
                "MirrorCache", "UpstreamListing", "CommandLineSupport", "Systemd", "ConnectionGuard", "LinuxCalls",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "TreeFixtures",
            dependencies: ["FileList", .product(name: "AsyncHTTPClient", package: "async-http-client")],
            path: "Tests/TreeFixtures"),
        .testTarget(
            name: "ListProtocolTests",
            dependencies: ["ListProtocol", "TreeFixtures", .product(name: "Crypto", package: "swift-crypto")]
        ),
        .testTarget(name: "PeakRSSTests", dependencies: ["peak-rss", "TreeFixtures"]),
        .testTarget(name: "ConnectionGuardTests", dependencies: ["ConnectionGuard", "LinuxCalls"]),
        .testTarget(
            name: "ListTransportTests",
            dependencies: ["ListTransport", "TreeFixtures", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "DaemonControlTests", dependencies: ["DaemonControl", "ListProtocol"]),
        .testTarget(name: "FileListTests", dependencies: ["FileList", "TreeFixtures"]),
        .testTarget(name: "TreeScanTests", dependencies: ["TreeScan", "FileList", "TreeFixtures"]),
        .testTarget(
            name: "TreeIndexTests",
            dependencies: ["TreeIndex", "TreeScan", "TreeWatch", "FileList", "ListProtocol", "TreeFixtures"]
        ),
        .testTarget(
            name: "TreeWatchTests",
            dependencies: ["TreeWatch", "TreeIndex", "TreeScan", "LinuxCalls", "FileList", "TreeFixtures"]),
        .testTarget(
            name: "FilelistdCommandTests",
            dependencies: [
                "FileList", "ListProtocol", "DaemonControl", "TreeFixtures", "filelistd", "create-filelist", "quick-mirror",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .testTarget(
            name: "MirrorClientTests",
            dependencies: ["MirrorClient", "FileList", "TreeFixtures", "quick-mirror", "create-filelist", "filelistd"]
        ),
        .testTarget(name: "PublishTests", dependencies: ["Publish", "LinuxCalls", "ListProtocol", "TreeFixtures"]),
        .testTarget(
            name: "ListServiceTests",
            dependencies: [
                "ListService", "ListProtocol", "Publish", "Monitoring", "FileList", "TreeFixtures", "ConnectionGuard",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "CompressNIO", package: "compress-nio"),
            ]
        ),
        .testTarget(
            name: "ListDaemonTests",
            dependencies: [
                "ListDaemon", "TreeFixtures", "TreeWatch", "TreeScan", "Publish", "FileList", "DaemonControl",
                "CommandLineSupport",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "MirrorCacheTests",
            dependencies: [
                "MirrorCache", "UpstreamListing", "TreeFixtures", "mirror-cache", "ConnectionGuard",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .testTarget(name: "CreateFilelistTests", dependencies: ["FileList", "TreeFixtures", "create-filelist"]),
        .testTarget(
            name: "UpstreamListingTests",
            dependencies: [
                "UpstreamListing", "FileList", "TreeFixtures", "filelistd",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
    ]
)
