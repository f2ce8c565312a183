// swift-tools-version: 6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    // An async call stays on its caller's executor: no executor switch per
    // protocol call (a tenth of a simulated step's cost without it).
    .enableUpcomingFeature("NonisolatedNonsendingByDefault"),
]

let package = Package(
    name: "buildos-clean",
    platforms: [.macOS(.v15)],
    products: [
        // What a build host runs: no simulator, no Foundation (docs/architecture.md).
        .executable(name: "buildos-clean", targets: ["buildos-clean"]),
        // The same commands plus the developers' (scenario runs).
        .executable(name: "buildos-clean-dev", targets: ["buildos-clean-dev"]),
        // For the benchmarks package under Benchmarks/.
        .library(
            name: "BuildOSCleanCore", targets: ["FSProtocol", "MachineLayout", "SimFS", "Cleanup", "BuildFarm", "Simulation", "Fuzzing"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        .target(name: "FSProtocol", swiftSettings: strict),
        // The machine vocabulary: the name grammar, toolchains, machine
        // locks, diagnostics and layouts (docs/architecture.md).
        .target(name: "MachineLayout", dependencies: ["FSProtocol"], swiftSettings: strict),
        .target(name: "SimFS", dependencies: ["FSProtocol", "MachineLayout"], swiftSettings: strict),
        .systemLibrary(
            name: "CBtrfsUtil", pkgConfig: "libbtrfsutil", providers: [.apt(["libbtrfsutil-dev"])]),
        .target(name: "RealFS", dependencies: ["FSProtocol", "CBtrfsUtil"], swiftSettings: strict),
        .target(
            name: "Cleanup",
            dependencies: ["FSProtocol", "MachineLayout", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict),
        .target(name: "BuildFarm", dependencies: ["FSProtocol", "MachineLayout"], swiftSettings: strict),
        .target(
            name: "Simulation",
            dependencies: [
                "FSProtocol", "MachineLayout", "SimFS", "Cleanup", "BuildFarm", .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // The layout fuzzer: worlds from seeds, oracles, shrinking (simulation only).
        .target(
            name: "Fuzzing", dependencies: ["FSProtocol", "MachineLayout", "SimFS", "RealFS", "Cleanup", "Simulation"],
            swiftSettings: strict),
        // The command definitions both executables share.
        .target(
            name: "Commands",
            dependencies: [
                "Cleanup", "MachineLayout", "RealFS",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // A constructor that opens a closed standard descriptor on
        // /dev/null before the Swift runtime takes its number.
        .target(name: "CProcessStart"),
        .executableTarget(
            name: "buildos-clean",
            dependencies: ["Commands", "CProcessStart", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict),
        .executableTarget(
            name: "buildos-clean-dev",
            dependencies: [
                "Commands", "CProcessStart", "Simulation", "Fuzzing", "SimFS", "MachineLayout",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict),
        .target(
            name: "TestSupport", dependencies: ["FSProtocol", "MachineLayout", "SimFS", "RealFS", "Cleanup", "BuildFarm"],
            path: "Tests/TestSupport",
            swiftSettings: strict),
        .testTarget(name: "FSProtocolTests", dependencies: ["FSProtocol"], swiftSettings: strict),
        .testTarget(
            name: "SimFSTests", dependencies: ["SimFS", "MachineLayout", "FSProtocol", "TestSupport"], swiftSettings: strict),
        .testTarget(
            name: "ConformanceTests", dependencies: ["FSProtocol", "MachineLayout", "TestSupport"], swiftSettings: strict),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "buildos-clean", "buildos-clean-dev", "Commands", "Cleanup", "MachineLayout", "FSProtocol", "TestSupport",
            ],
            exclude: ["Snapshots"],
            swiftSettings: strict),
        .testTarget(
            name: "RealFSTests",
            dependencies: ["buildos-clean", "Cleanup", "MachineLayout", "FSProtocol", "RealFS", "BuildFarm", "TestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "SimulationTests",
            dependencies: ["Simulation", "MachineLayout", "SimFS", "Cleanup", "FSProtocol", "TestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "FuzzingTests",
            dependencies: ["Fuzzing", "Simulation", "MachineLayout", "SimFS", "RealFS", "Cleanup", "FSProtocol", "TestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "CleanupTests", dependencies: ["Cleanup", "MachineLayout", "SimFS", "FSProtocol", "TestSupport"],
            swiftSettings: strict),
    ]
)
