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
        .executable(name: "peregrine", targets: ["peregrine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        .target(name: "GGUF"),
        .target(name: "CKernels"),
        .target(name: "Kernels", dependencies: ["GGUF", "CKernels"]),
        .target(name: "Tokenization", dependencies: ["GGUF"]),
        .target(name: "Models", dependencies: ["GGUF", "Kernels"]),
        .target(name: "Engine", dependencies: ["Models", "Tokenization", "Kernels"]),
        .target(name: "EPLB"),
        .target(name: "ModelHub", dependencies: ["GGUF", .product(name: "Crypto", package: "swift-crypto")]),
        .executableTarget(
            name: "peregrine",
            dependencies: [
                "Engine", "ModelHub", "EPLB",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .target(name: "TestSupport", dependencies: ["GGUF"], path: "Tests/Support"),
        .testTarget(name: "GGUFTests", dependencies: ["GGUF", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "GGUF", "TestSupport"]),
        .testTarget(name: "TokenizationTests", dependencies: ["Tokenization", "GGUF", "TestSupport"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "Engine", "GGUF", "ModelHub", "Tokenization", "TestSupport"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "Models", "GGUF", "Tokenization", "ModelHub", "Kernels", "TestSupport"]),
        .testTarget(name: "ModelHubTests", dependencies: ["ModelHub"]),
        .testTarget(name: "EPLBTests", dependencies: ["EPLB"]),
        .testTarget(name: "CLITests", dependencies: ["peregrine", "GGUF"]),
    ]
)
