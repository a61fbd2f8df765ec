// swift-tools-version: 6.1
import PackageDescription

// A package that uses Peregrine as a library, as a Swift developer would: by path here (by
// version in a real project), built with a plain `swift build -c release` and no CPU flags.
let package = Package(
    name: "LibraryConsumer",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "Peregrine", path: "../..")],
    targets: [
        .executableTarget(name: "LibraryConsumer", dependencies: [
            .product(name: "Engine", package: "Peregrine"),
            .product(name: "Models", package: "Peregrine"),
            .product(name: "ModelHub", package: "Peregrine"),
            .product(name: "GGUF", package: "Peregrine"),
            .product(name: "Kernels", package: "Peregrine"),
            .product(name: "Tokenization", package: "Peregrine"),
        ]),
    ]
)
