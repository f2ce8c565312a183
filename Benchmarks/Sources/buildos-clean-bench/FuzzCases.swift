import Cleanup
import Fuzzing
import MachineLayout
import SimFS

/// Fuzz cases per second on SimFS, on one core (the fuzz loop runs its
/// cases one after the other): cleanup-only worlds (no actor, no fault),
/// then the whole swarm (agents, machine commands, crashes, injected
/// errors, races); each with every oracle, as `buildos-clean-dev fuzz`
/// runs them, and the cleanup-only ones also as one bare cleanup per
/// world (the cost of the oracles is the difference).
enum FuzzCasesBenchmark {
    static let quiet: Set<FuzzFeature> = Set(FuzzFeature.allCases).subtracting([
        .agents, .commands, .crashes, .faults, .races,
    ])

    static func run(cases: Int) async {
        print("| worlds | cases | seconds | cases/s |")
        print("|---|---:|---:|---:|")
        for (name, features) in [("cleanup only", quiet), ("with agents and faults", Set(FuzzFeature.allCases))] {
            var session = FuzzSession(seed: 1, generator: WorldGenerator(allowed: features))
            session.shrinks = false
            let summary = await session.run(.cases(cases))
            precondition(summary.failedCases == 0, "a case failed: \(summary.findings.map(\.failure))")
            row(name + ", every oracle", cases, summary.seconds)
        }
        await bare(cases: cases)
    }

    /// The cleanup-only worlds with every oracle, for profiling.
    static func quietOnly(cases: Int) async {
        var session = FuzzSession(seed: 1, generator: WorldGenerator(allowed: quiet))
        session.shrinks = false
        let summary = await session.run(.cases(cases))
        row("cleanup only, every oracle", cases, summary.seconds)
    }

    /// The cleanup-only worlds, each drawn, built and cleaned once, without
    /// oracles.
    static func bare(cases: Int) async {
        let generator = WorldGenerator(allowed: quiet)
        let start = ContinuousClock.now
        for index in 0..<cases {
            let world = generator.world(seed: WorldGenerator.caseSeed(1, index))
            guard case .success(let toolchains) = world.toolchainSet,
                let host = try? SimulatedHost(layout: world.layout)
            else { continue }
            _ = await CleanupRun(fileSystem: host.spawn(.root), root: world.layout.root, toolchains: toolchains).run()
        }
        row("cleanup only, the cleanup alone", cases, (ContinuousClock.now - start).seconds)
    }

    static func row(_ name: String, _ cases: Int, _ seconds: Double) {
        print("| \(name) | \(cases) | \(format(seconds, 2)) | \(Int((Double(cases) / seconds).rounded())) |")
    }
}
