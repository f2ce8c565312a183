import Cleanup
import FSProtocol
import Fuzzing
import Simulation
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
            if summary.failedCases > 0 {
                // A benchmark of failing cases measures the wrong thing.
                print("a case failed (\(name)): \(summary.findings.map { "\($0.failure)" })")
                return
            }
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

    /// Dry runs over the same cleanup-only worlds, `rounds` times each: a
    /// profile of the scan, the plan and the report alone.
    static func dryRuns(cases: Int, rounds: Int) async {
        let generator = WorldGenerator(allowed: quiet)
        var hosts: [(SimulatedHost, String, ToolchainSet)] = []
        for index in 0..<cases {
            let world = generator.world(seed: WorldGenerator.caseSeed(1, index))
            guard case .success(let toolchains) = world.toolchainSet, let host = try? SimulatedHost(layout: world.layout)
            else { continue }
            hosts.append((host, world.layout.root, toolchains))
        }
        let start = ContinuousClock.now
        for _ in 0..<rounds {
            for (host, root, toolchains) in hosts {
                _ = await CleanupRun(fileSystem: host.spawn(.root), root: root, toolchains: toolchains).run(dryRun: true)
            }
        }
        let seconds = (ContinuousClock.now - start).seconds
        print("dry run: \(format(seconds / Double(rounds * hosts.count) * 1e6, 1)) µs per world")
    }

    /// The rules model's verdict on each cleanup-only world, alone.
    static func model(cases: Int) {
        let generator = WorldGenerator(allowed: quiet)
        let worlds = (0..<cases).map { generator.world(seed: WorldGenerator.caseSeed(1, $0)) }
        let start = ContinuousClock.now
        var removed = 0
        for world in worlds {
            let model = RulesModel(root: world.layout.root, toolchains: world.toolchains)
            removed += model.verdict(world.layout, explicitlyNone: world.explicitlyNone).removed.count
        }
        let seconds = (ContinuousClock.now - start).seconds
        print("rules model: \(format(seconds / Double(cases) * 1e6, 1)) µs per world (\(removed) removals)")
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

/// What one SimFS call costs through the protocol, on a directory of a fuzz
/// world's size: the unit a cleanup's cost is made of.
enum SimulatedCallBenchmark {
    static func run(calls: Int) async throws {
        var text = "subvol default/m/m-1 ro\nlink default/m/m -> m-1\n"
        for index in 2...12 { text += "subvol default/m/m-default-\(index)-1\n" }
        let host = try SimulatedHost(layout: Layout.parse(text))
        let fileSystem: any FileSystem = host.spawn(.root)
        let directory = try await fileSystem.openRoot(Layout.defaultRoot + "/default/m")
        let name: EntryName = "m-default-7-1"
        print("| call | ns per call |")
        print("|---|---:|")
        var start = ContinuousClock.now
        for _ in 0..<calls { _ = try await fileSystem.status(of: name, in: directory) }
        print("| status(of:in:) | \(Int(((ContinuousClock.now - start).seconds / Double(calls) * 1e9).rounded())) |")
        start = ContinuousClock.now
        for _ in 0..<calls { _ = try await fileSystem.readLink("m", in: directory) }
        print("| readLink | \(Int(((ContinuousClock.now - start).seconds / Double(calls) * 1e9).rounded())) |")
        start = ContinuousClock.now
        for _ in 0..<calls / 10 { _ = try await fileSystem.list(directory) }
        print("| list (13 entries) | \(Int(((ContinuousClock.now - start).seconds / Double(calls / 10) * 1e9).rounded())) |")
        start = ContinuousClock.now
        for _ in 0..<calls {
            let opened = try await fileSystem.openDirectory(name, in: directory)
            await fileSystem.close(opened)
        }
        print("| openDirectory + close | \(Int(((ContinuousClock.now - start).seconds / Double(calls) * 1e9).rounded())) |")
    }
}

/// Where a cleanup-only fuzz case's time goes, phase by phase, over the
/// same worlds: each phase timed alone over all of them (µs per world).
enum FuzzPhasesBenchmark {
    static func run(cases: Int) async {
        let generator = WorldGenerator(allowed: FuzzCasesBenchmark.quiet)
        var start = ContinuousClock.now
        let worlds = (0..<cases).map { generator.world(seed: WorldGenerator.caseSeed(1, $0)) }
            .filter { if case .success = $0.toolchainSet { true } else { false } }
        let generation = (ContinuousClock.now - start).seconds / Double(cases)
        start = ContinuousClock.now
        let hosts = worlds.map { try? SimulatedHost(layout: $0.layout) }
        let load = (ContinuousClock.now - start).seconds / Double(worlds.count)
        let root = Layout.defaultRoot
        start = ContinuousClock.now
        let layouts = hosts.map { $0?.layout(root: root) ?? Layout() }
        let readBack = (ContinuousClock.now - start).seconds / Double(worlds.count)
        start = ContinuousClock.now
        var removed = 0
        for (world, layout) in zip(worlds, layouts) {
            removed += RulesModel(root: root, toolchains: world.toolchains).verdict(layout).removed.count
        }
        let model = (ContinuousClock.now - start).seconds / Double(worlds.count)
        var dry = 0.0
        var apply = 0.0
        var second = 0.0
        var finished = 0.0
        var afterRead = 0.0
        for (world, host) in zip(worlds, hosts) {
            guard let host, case .success(let toolchains) = world.toolchainSet else { continue }
            let invariants = CleanupInvariants(host: host, root: root, toolchains: toolchains)
            let process = host.spawn(.root)
            host.install(observer: invariants)
            invariants.started(process, cleanup: true)
            let cleanup = CleanupRun(fileSystem: process, root: root, toolchains: toolchains, mode: world.mode)
            // As a case without faults runs them: the dry run plans, the
            // run carries that plan out.
            start = ContinuousClock.now
            guard case .success(let plan) = await cleanup.plan() else { continue }
            _ = await Applier(fileSystem: process, mode: world.mode).checkedDryRun(plan)
            dry += (ContinuousClock.now - start).seconds
            start = ContinuousClock.now
            let first = await Applier(fileSystem: process, mode: world.mode).apply(plan)
            apply += (ContinuousClock.now - start).seconds
            start = ContinuousClock.now
            let after = host.layout(root: root)
            afterRead += (ContinuousClock.now - start).seconds
            start = ContinuousClock.now
            invariants.cleanupFinished(first, tree: after)
            finished += (ContinuousClock.now - start).seconds
            start = ContinuousClock.now
            _ = await cleanup.run()
            second += (ContinuousClock.now - start).seconds
        }
        let count = Double(worlds.count)
        print("| phase | µs per world |")
        print("|---|---:|")
        for (name, seconds) in [
            ("draw the world", generation), ("load it into a host", load), ("read the tree back", readBack),
            ("rules model", model), ("dry run, observed", dry / count), ("run, observed", apply / count),
            ("read the tree back after the run", afterRead / count), ("invariant 6 after the run", finished / count),
            ("second run, observed", second / count),
        ] {
            print("| \(name) | \(format(seconds * 1e6, 1)) |")
        }
        print("(\(worlds.count) worlds, \(removed) removals)")
    }
}

/// What a cleanup costs before its first entry: dry runs and runs of
/// small trees (none, one machine, one machine and a stray to delete),
/// 20,000 rounds each (the stray is deleted by the first run: the other
/// rounds run on the tree without it).
enum CleanupFixedCostBenchmark {
    static func run(rounds: Int) async throws {
        let trees = [
            ("an empty root", ""),
            ("a volume, one machine (its link and revision)", "subvol default/m/m-1 ro\nlink default/m/m -> m-1\n"),
            (
                "the same and a working snapshot to delete",
                "subvol default/m/m-1 ro\nlink default/m/m -> m-1\nsubvol default/m/m-default-1\n"
            ),
        ]
        let toolchains = ToolchainSet([Toolchain(rawValue: "default")!])
        print("| tree | µs per dry run | µs per run |")
        print("|---|---:|---:|")
        for (name, text) in trees {
            let host = try SimulatedHost(layout: Layout.parse(text))
            let process = host.spawn(.root)
            var start = ContinuousClock.now
            for _ in 0..<rounds {
                _ = await CleanupRun(fileSystem: process, root: Layout.defaultRoot, toolchains: toolchains).run(dryRun: true)
            }
            let dry = (ContinuousClock.now - start).seconds / Double(rounds)
            start = ContinuousClock.now
            for _ in 0..<rounds {
                _ = await CleanupRun(fileSystem: process, root: Layout.defaultRoot, toolchains: toolchains).run()
            }
            let run = (ContinuousClock.now - start).seconds / Double(rounds)
            print("| \(name) | \(format(dry * 1e6, 1)) | \(format(run * 1e6, 1)) |")
        }
    }
}
