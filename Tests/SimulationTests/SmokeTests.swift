import Simulation
import Testing

@Suite("Simulation smoke")
struct SmokeTests {
    static let scenario = """
        name: boot cleanup then two agents
        description: smoke
        layout: |
          volume default owner=1000:1000
          dir    default/m owner=1000:1000
          subvol default/m/m-1 ro owner=1000:1000
          link   default/m/m -> m-1
          subvol default/m/m-default-77-1 owner=1000:1000
        toolchains: [default]
        actors:
          - {name: cleanup, kind: cleanup}
          - {name: agent-1, kind: agent, toolchain: default, builds: 2, start: 10}
          - {name: agent-2, kind: agent, toolchain: default, builds: 1, start: 10}
        expect:
          invariants: hold
        """

    @Test func runs() throws {
        let compiled = try CompiledScenario.load(yaml: Self.scenario)
        let result = try Explorer(compiled, options: ExplorationOptions(strategy: .random, seed: 7, schedules: 5)).run()
        for violation in result.violations { print(violation.violation, "\n", violation.trace) }
        print(result.schedules, result.steps, result.problems)
        #expect(result.passed)
    }
}
