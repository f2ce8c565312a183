// swift-tools-version: 5.4
// The libFuzzer targets of the parsers, kept out of the main package so that
// neither `swift build` nor `swift test` there ever builds them. They link
// libFuzzer's own `main`, so they only build with `-sanitize=fuzzer`:
// run them with scripts/fuzz-parsers (see docs/fuzzing.md).
import Foundation
import PackageDescription

// A path dependency is known by its directory's name, whatever the clone
// is called.
let mainPackage = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .lastPathComponent.lowercased()

let core = Target.Dependency.product(name: "BuildOSCleanCore", package: mainPackage)

let package = Package(
    name: "buildos-clean-fuzz",
    dependencies: [
        .package(path: ".."),
    ],
    targets: [
        .target(name: "FuzzSupport"),
        .executableTarget(name: "fuzz-layout", dependencies: ["FuzzSupport", core]),
        .executableTarget(name: "fuzz-scenario", dependencies: ["FuzzSupport", core]),
        .executableTarget(name: "fuzz-kernel-cmdline", dependencies: ["FuzzSupport", core]),
        .executableTarget(name: "fuzz-send-stream", dependencies: ["FuzzSupport", core]),
    ],
    swiftLanguageVersions: [.version("6")]
)
