// swift-tools-version:6.0
import PackageDescription

// Release builds drop bounds and overflow checks in the numeric layers: their hot loops run over
// unsafe buffers already, and the tests (debug) keep the checks on.
let fast: [SwiftSetting] = [.unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release))]
// The tensor kernels are optimised in debug builds too (bounds checks stay on): unspecialised
// SIMD code is ~100x slower, which would make every test that runs a model crawl.
let kernels: [SwiftSetting] = fast + [.unsafeFlags(["-O"], .when(configuration: .debug))]

let package = Package(
    name: "Lethe",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "lethe", targets: ["lethe"]),
        .executable(name: "lethe-bench", targets: ["lethe-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CFFmpeg", pkgConfig: "libavformat libavcodec libswscale libavutil",
                       providers: [.apt(["libavformat-dev", "libavcodec-dev", "libswscale-dev", "libavutil-dev"])]),
        .target(name: "LetheCore", dependencies: ["CBLAS"], exclude: ["README.md"], swiftSettings: kernels),
        .target(name: "LetheModels", dependencies: ["LetheCore", "Yams"], exclude: ["README.md"], swiftSettings: fast),
        .target(name: "LetheMedia", dependencies: ["CFFmpeg"], exclude: ["README.md"], swiftSettings: fast),
        .target(name: "LetheWorld", dependencies: ["LetheCore", "LetheModels", "LetheMedia"], exclude: ["README.md"], swiftSettings: fast),
        .target(name: "LetheUnlearn", dependencies: ["LetheCore", "LetheModels", "LetheWorld"], exclude: ["README.md"], swiftSettings: fast),
        .target(name: "LetheEval", dependencies: ["LetheCore", "LetheModels", "LetheMedia", "LetheWorld", "LetheUnlearn"], exclude: ["README.md"], swiftSettings: fast),
        .executableTarget(name: "lethe", dependencies: [
            "LetheCore", "LetheModels", "LetheMedia", "LetheWorld", "LetheUnlearn", "LetheEval",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: fast),
        .executableTarget(name: "lethe-bench", dependencies: ["LetheCore", "LetheModels", "LetheWorld", "LetheUnlearn"], swiftSettings: fast),
        .testTarget(name: "LetheCoreTests", dependencies: ["LetheCore"], resources: [.copy("Fixtures")]),
        .testTarget(name: "LetheModelsTests", dependencies: ["LetheCore", "LetheModels"], resources: [.copy("Fixtures")]),
        .testTarget(name: "LetheMediaTests", dependencies: ["LetheMedia"], resources: [.copy("Fixtures")]),
        .testTarget(name: "LetheWorldTests", dependencies: ["LetheWorld", "LetheCore"]),
        .testTarget(name: "LetheEvalTests", dependencies: ["LetheEval", "LetheCore", "LetheWorld", "LetheModels", "LetheMedia"], resources: [.copy("Fixtures")]),
        .testTarget(name: "LetheUnlearnTests", dependencies: ["LetheUnlearn", "LetheWorld", "LetheModels", "LetheCore"]),
        .testTarget(name: "LetheCLITests", dependencies: ["lethe", "LetheCore", "LetheModels"], resources: [.copy("Fixtures")]),
    ],
    swiftLanguageModes: [.v5]
)
