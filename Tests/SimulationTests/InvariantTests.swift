import Simulation
import Testing

/// Checkers no shipped scenario breaks, broken on purpose.
@Suite("Invariant checkers")
struct InvariantTests {
    func explore(_ yaml: String) throws -> ScenarioResult {
        let compiled = try CompiledScenario.load(yaml: yaml)
        return try Explorer(compiled, options: ExplorationOptions(compiled.scenario)).run()
    }

    @Test("a bootstrapped machine that appears by a snapshot, not a rename, breaks invariant 4")
    func publishedBySnapshot() throws {
        let result = try explore(
            """
            name: published by snapshot
            description: a process snapshots a revision straight to the bootstrapped name
            layout: |
              subvol v/m/m-1 ro
              link   v/m/m -> m-1
            toolchains: [default]
            actors:
              - {name: shortcut, kind: script, steps: ["snapshot /build/machines/v/m/m-1 /build/machines/v/m/m-default"]}
            expect:
              violation: 4
            """)
        #expect(result.passed, "\(result.text)")
        #expect(result.violations.first?.violation.message.contains("appeared by snapshot") == true)
    }

    @Test("a renamed bootstrap that did not complete breaks invariant 4")
    func publishedEarly() throws {
        let result = try explore(
            """
            name: published early
            description: a process renames a working snapshot over the name before any bootstrap
            layout: |
              subvol v/m/m-1 ro
              link   v/m/m -> m-1
              subvol v/m/m-default-9-9
            toolchains: [default]
            actors:
              - {name: early, kind: script, steps: ["rename /build/machines/v/m/m-default-9-9 /build/machines/v/m/m-default"]}
            expect:
              violation: 4
            """)
        #expect(result.passed, "\(result.text)")
        #expect(result.violations.first?.violation.message.contains("before its bootstrap completed") == true)
    }

    @Test("a procedure that waits forever breaks liveness (invariant 7) at the time limit")
    func waitingForever() throws {
        let result = try explore(
            """
            name: waiting forever
            description: the delete procedure waits for a working snapshot nobody will delete
            layout: |
              subvol v/m/m-1 ro
              link   v/m/m -> m-1
              subvol v/m/m-default-9-9
            toolchains: [default]
            actors:
              - {name: admin, kind: admin, procedure: delete, machine: v/m}
            time-limit: 600
            expect:
              violation: 7
            """)
        #expect(result.passed, "\(result.text)")
        #expect(result.violations.first?.violation.message.contains("still waiting after 600 s: admin") == true)
    }

    @Test("a scenario expecting the invariants to hold fails when one breaks")
    func unexpectedViolation() throws {
        let compiled = try ScenarioFiles.load("boot-cleanup-while-agents-run.yaml")
        var scenario = compiled.scenario
        scenario.expect = Expectation()
        scenario.expect.invariants = "hold"
        let result = try Explorer(CompiledScenario(scenario), options: ExplorationOptions(scenario)).run()
        #expect(!result.passed)
        #expect(result.text.hasPrefix("FAIL"))
    }

    @Test(
        "bad scenario files are refused with a clear message",
        arguments: [
            ("name: x\ndescription: y\nlayout: \"\"\ntoolchains: [default]\nactors: [{name: c, kind: cleanup}]\nexpect: {}\n",
             "line 6: expect needs"),
            ("name: x\ndescription: y\nlayout: \"\"\ntoolchains: [bad-name]\nactors: []\nexpect: {invariants: hold}\n",
             "toolchains: toolchain name 'bad-name' contains '-'"),
            ("name: x\ndescription: y\nlayout: \"\"\ntoolchains: [default]\nactors: [{name: a, kind: agent}]\nexpect: {invariants: hold}\n",
             "agent a needs a valid toolchain"),
            ("name: x\ndescription: y\nlayout: \"\"\ntoolchains: [default]\nactors: [{name: a, kind: admin, procedure: upgrade, machine: v/m, from: 1, to: 2, pitfalls: [typo]}]\nexpect: {invariants: hold}\n",
             "unknown pitfall 'typo'"),
            ("name: x\ndescription: y\nlayout: \"bogus x\"\ntoolchains: [default]\nactors: []\nexpect: {invariants: hold}\n",
             "line 3: layout: unknown kind 'bogus'"),
            ("name: x\ndescription: y\nlayout: \"\"\ntoolchains: [default]\nactors: [{name: a, kind: wizard}]\nexpect: {invariants: hold}\n",
             "line 5: actor a: kind is cleanup, original-cleanup, agent, admin, script or command, not 'wizard'"),
        ])
    func badFiles(yaml: String, message: String) {
        #expect {
            _ = try CompiledScenario.load(yaml: yaml)
        } throws: { error in
            "\(error)".contains(message)
        }
    }
}
