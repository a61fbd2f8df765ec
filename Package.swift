// swift-tools-version: 6.1
import PackageDescription

// Release builds: `swift build -c release -Xswiftc -target-cpu -Xswiftc x86-64-v3`
// (see README, "Building for speed"). The C micro-kernels pick AVX-512/VNNI or AVX2 at run time,
// so no unsafe flags are set here and the package stays usable as a dependency.
let package = Package(
    name: "Peregrine",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "GGUF", targets: ["GGUF"]),
        .library(name: "Kernels", targets: ["Kernels"]),
        .library(name: "Tokenization", targets: ["Tokenization"]),
        .library(name: "Models", targets: ["Models"]),
        .library(name: "Engine", targets: ["Engine"]),
        .library(name: "ModelHub", targets: ["ModelHub"]),
        .library(name: "EPLB", targets: ["EPLB"]),
        .library(name: "SpecDecode", targets: ["SpecDecode"]),
        .library(name: "StructuredOutput", targets: ["StructuredOutput"]),
        .library(name: "KVTransfer", targets: ["KVTransfer"]),
        .library(name: "Server", targets: ["Server"]),
        .executable(name: "peregrine", targets: ["peregrine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
    ],
    targets: [
        .target(name: "GGUF"),
        .target(name: "CKernels"),
        .target(name: "Kernels", dependencies: ["GGUF", "CKernels"]),
        .target(name: "Tokenization", dependencies: ["GGUF"]),
        .target(name: "Models", dependencies: ["GGUF", "Kernels"]),
        .target(name: "SpecDecode", dependencies: ["Models", "Kernels", "GGUF"]),
        .target(name: "Engine", dependencies: ["Models", "Tokenization", "Kernels", "EPLB", "SpecDecode", "StructuredOutput", "KVTransfer"]),
        .target(name: "KVTransfer", dependencies: ["Models", "GGUF", .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "EPLB"),
        .target(name: "StructuredOutput", dependencies: ["Tokenization"]),
        .target(name: "ModelHub", dependencies: ["GGUF", .product(name: "Crypto", package: "swift-crypto")]),
        .target(
            name: "Server",
            dependencies: [
                "Engine", "Tokenization", "StructuredOutput", "KVTransfer",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            ]),
        .executableTarget(
            name: "peregrine",
            dependencies: [
                "Engine", "ModelHub", "EPLB", "SpecDecode", "StructuredOutput", "KVTransfer",
                "Server",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        .target(name: "TestSupport", dependencies: ["GGUF", "CKernels"], path: "Tests/Support"),
        .target(name: "MallocCounter", path: "Tests/MallocCounter"),
        .testTarget(name: "GGUFTests", dependencies: ["GGUF", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "CKernels", "GGUF", "TestSupport"]),
        .testTarget(name: "TokenizationTests", dependencies: ["Tokenization", "GGUF", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(
            name: "ModelsTests",
            dependencies: ["Models", "Engine", "GGUF", "Kernels", "CKernels", "ModelHub", "Tokenization", "TestSupport", "MallocCounter"],
            exclude: ["Fixtures"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "Models", "GGUF", "Tokenization", "ModelHub", "Kernels", "CKernels", "TestSupport", "EPLB", "SpecDecode", "StructuredOutput", "KVTransfer"]),
        .testTarget(name: "ModelHubTests", dependencies: ["ModelHub"]),
        .testTarget(name: "EPLBTests", dependencies: ["EPLB"]),
        .testTarget(name: "KVTransferTests", dependencies: ["KVTransfer", "Models", "GGUF", "Kernels"]),
        .testTarget(name: "StructuredOutputTests", dependencies: ["StructuredOutput", "Tokenization", "GGUF", "TestSupport"]),
        .testTarget(name: "SpecDecodeTests", dependencies: ["SpecDecode", "Models", "GGUF", "Kernels", "TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["peregrine", "GGUF", "TestSupport"]),
        .testTarget(
            name: "ServerTests",
            dependencies: [
                "Server", "Engine", "Models", "Kernels", "GGUF", "Tokenization", "TestSupport", "peregrine", "EPLB", "SpecDecode", "StructuredOutput",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
    ]
)
