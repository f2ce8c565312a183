import Simulation
import Testing

/// Every scenario under `Scenarios/` comes out as its file expects, with
/// its own strategy and budget (random and PCT at most 1,000 schedules).
/// An exhaustive one must finish its search within its budget: a search
/// cut short would promise what it did not check.
@Suite("Scenario files")
struct ScenarioFilesTests {
    @Test("there are scenario files for every situation of the issue")
    func present() {
        #expect(ScenarioFiles.all.count >= 20)
    }

    @Test("a scenario comes out as expected", arguments: ScenarioFiles.all)
    func scenario(file: String) throws {
        let compiled = try ScenarioFiles.load(file)
        var options = try ExplorationOptions(compiled.scenario)
        if options.strategy != .exhaustive { options.schedules = min(options.schedules, 1000) }
        let result = try Explorer(compiled, options: options).run()
        #expect(result.passed, "\(result.text)")
        if options.strategy == .exhaustive { #expect(result.exhausted, "\(result.text)") }
        #expect(!result.violations.contains { $0.violation.invariant == 0 }, "\(result.text)")
    }

    @Test("every invariant of SPEC §6 is broken by some scenario: no checker is idle")
    func everyInvariantIsExercised() throws {
        var expected: Set<Int> = []
        for file in ScenarioFiles.all {
            expected.formUnion(try ScenarioFiles.load(file).scenario.expect.expectedViolations)
        }
        // Invariant 4 is exercised in InvariantTests (no shipped process
        // breaks it).
        #expect(expected.union([4]) == Set(1...8))
    }
}
