import Simulation
import Testing

@Suite("Strategies")
struct StrategyTests {
    @Test(
        "a planted bug (a cleanup deleting live working snapshots) is caught by every strategy",
        arguments: [StrategyName.random, .pct, .exhaustive])
    func plantedBug(strategy: StrategyName) throws {
        let compiled = try ScenarioFiles.load("planted-bug.yaml")
        let result = try Explorer(compiled, options: ExplorationOptions(strategy: strategy, seed: 3, schedules: 200)).run()
        let found = try #require(result.violations.first { $0.violation.invariant == 2 }, "\(result.text)")
        #expect(found.violation.message.contains("buggy-cleanup"))
        #expect(found.trace.contains("deleteSubvolume"))
        #expect(result.passed)
    }

    @Test("the same seed gives the same runs, byte for byte", arguments: [StrategyName.random, .pct, .exhaustive])
    func determinism(strategy: StrategyName) throws {
        let compiled = try ScenarioFiles.load("delete-machine-while-building.yaml")
        let options = ExplorationOptions(strategy: strategy, seed: 11, schedules: 40)
        let first = try Explorer(compiled, options: options).run()
        let second = try Explorer(compiled, options: options).run()
        #expect(first.withoutTiming == second.withoutTiming)
        let trace = try Explorer(compiled, options: options).trace()
        #expect(trace == (try Explorer(compiled, options: options).trace()))
        #expect(trace.split(separator: "\n").count > 100)
        if strategy != .exhaustive {
            var other = options
            other.seed = 12
            #expect(trace != (try Explorer(compiled, options: other).trace()))
        }
    }

    @Test("a recorded schedule replays to the same trace")
    func replay() throws {
        let compiled = try ScenarioFiles.load("boot-cleanup-while-agents-run.yaml")
        let result = try Explorer(compiled, options: ExplorationOptions(strategy: .random, seed: 5, schedules: 30)).run()
        let found = try #require(result.violations.first)
        let replayed = try Explorer(compiled, options: ExplorationOptions(strategy: .replay, replay: found.schedule)).run()
        #expect(replayed.schedules == 1)
        #expect(replayed.violations.map(\.violation) == [found.violation])
        #expect(replayed.violations.first?.trace == found.trace)
    }

    @Test("a violation's replay file is a scenario that finds it again")
    func replayFile() throws {
        let compiled = try ScenarioFiles.load("upgrade-mv-without-t.yaml")
        let result = try Explorer(compiled, options: ExplorationOptions(strategy: .random, schedules: 1)).run()
        let found = try #require(result.violations.first)
        let replay = try CompiledScenario.load(yaml: compiled.replayFile(for: found))
        #expect(replay.scenario.strategy == .replay)
        let replayed = try Explorer(replay, options: ExplorationOptions(replay.scenario)).run()
        #expect(replayed.passed)
        #expect(replayed.violations.map(\.violation) == [found.violation])
    }

    @Test(
        "bounded exhaustive: every interleaving of two six-step actors within the bound",
        arguments: [(0, 2), (1, 12), (2, 62), (3, 162), (12, 924)])
    func exhaustiveCounts(bound: Int, schedules: Int) throws {
        let compiled = try CompiledScenario.load(
            yaml: """
                name: two scripts
                description: two processes, three calls per command, two commands each
                layout: |
                  subvol v/m/m-1 ro
                  link   v/m/m -> m-1
                toolchains: [default]
                actors:
                  - {name: a, kind: script, steps: ["mkdir /build/machines/v/m/a1", "mkdir /build/machines/v/m/a2"]}
                  - {name: b, kind: script, steps: ["mkdir /build/machines/v/m/b1", "mkdir /build/machines/v/m/b2"]}
                expect:
                  end-state: |
                    subvol v/m/m-1 ro
                    link   v/m/m -> m-1
                    dir    v/m/a1
                    dir    v/m/a2
                    dir    v/m/b1
                    dir    v/m/b2
                """)
        var options = ExplorationOptions(strategy: .exhaustive, schedules: 100_000)
        options.preemptionBound = bound
        let result = try Explorer(compiled, options: options).run()
        #expect(result.schedules == schedules)
        #expect(result.exhausted)
        #expect(result.passed, "\(result.text)")
    }
}
