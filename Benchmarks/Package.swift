// swift-tools-version: 6.1
// The benchmarks, kept out of the main package so that `swift test` never
// builds them. Run them in release mode: see docs/benchmarks.md.
import Foundation
import PackageDescription

// A path dependency is known by its directory's name, whatever the clone
// is called.
let mainPackage = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .lastPathComponent.lowercased()

let package = Package(
    name: "buildos-clean-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
    ],
    targets: [
        .executableTarget(
            name: "buildos-clean-bench",
            dependencies: [.product(name: "BuildOSCleanCore", package: mainPackage)],
            swiftSettings: [.swiftLanguageMode(.v6)]),
    ]
)
