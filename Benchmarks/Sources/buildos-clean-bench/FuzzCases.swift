import Cleanup
import Fuzzing
import MachineLayout
import SimFS
import Synchronization

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

    /// What one cleanup of a cleanup-only world costs, and how many
    /// filesystem calls it makes: the floor under a fuzz case, which runs
    /// at least three (a dry run, the run, a second run). The hosts are
    /// built beforehand; the clock runs over the cleanups alone.
    static func calls(cases: Int) async {
        let generator = WorldGenerator(allowed: quiet)
        var timed: [(SimulatedHost, String, ToolchainSet)] = []
        var counted: [(SimulatedHost, String, ToolchainSet)] = []
        var entries = 0
        for index in 0..<cases {
            let world = generator.world(seed: WorldGenerator.caseSeed(1, index))
            guard case .success(let toolchains) = world.toolchainSet,
                let first = try? SimulatedHost(layout: world.layout), let second = try? SimulatedHost(layout: world.layout)
            else { continue }
            entries += world.layout.entries.count
            timed.append((first, world.layout.root, toolchains))
            counted.append((second, world.layout.root, toolchains))
        }
        let counter = CallCounter()
        for (host, root, toolchains) in counted {
            host.install(observer: counter)
            _ = await CleanupRun(fileSystem: host.spawn(.root), root: root, toolchains: toolchains).run()
        }
        let start = ContinuousClock.now
        for (host, root, toolchains) in timed {
            _ = await CleanupRun(fileSystem: host.spawn(.root), root: root, toolchains: toolchains).run()
        }
        let seconds = (ContinuousClock.now - start).seconds
        let worlds = Double(timed.count)
        let calls = Double(counter.count.load(ordering: .relaxed))
        print("| worlds | entries per world | calls per cleanup | µs per cleanup | ns per call, planning included |")
        print("|---:|---:|---:|---:|---:|")
        print(
            "| \(timed.count) | \(format(Double(entries) / worlds, 1)) | \(format(calls / worlds, 1)) | "
                + "\(format(seconds / worlds * 1e6, 1)) | \(Int((seconds / calls * 1e9).rounded())) |")
    }

    final class CallCounter: SimulationObserver {
        let count = Atomic<Int>(0)
        func didPerform(_ event: SimulatedEvent) { count.add(1, ordering: .relaxed) }
        var wantsSubjects: Bool { false }
    }

    static func row(_ name: String, _ cases: Int, _ seconds: Double) {
        print("| \(name) | \(cases) | \(format(seconds, 2)) | \(Int((Double(cases) / seconds).rounded())) |")
    }
}
