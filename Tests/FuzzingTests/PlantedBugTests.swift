import Cleanup
import FSProtocol
import Fuzzing
import MachineLayout
import Simulation
import Testing

/// Bugs planted in the keep rules (through the runner's plan transforms)
/// are found by each oracle that should see them, and shrunk to at most
/// three layout entries.
@Suite("planted bugs are found and shrunk")
struct PlantedBugTests {
    struct PlantedBug: Sendable, CustomTestStringConvertible {
        var name: String
        var runner: CaseRunner
        /// The oracles that should see it, and the most layout entries a
        /// case showing it to each needs.
        var oracles: [FuzzOracle: Int]
        var testDescription: String { name }
    }

    /// Rewrites the items of a plan that `matches` selects.
    static func rewriting(
        _ matches: @escaping @Sendable (PlanItem) -> Bool, to action: PlannedAction, _ reason: Reason
    ) -> @Sendable (Plan) -> Plan {
        { plan in
            var plan = plan
            for index in plan.items.indices where matches(plan.items[index]) {
                plan.items[index].action = action
                plan.items[index].reason = reason
            }
            return plan
        }
    }

    /// Whether an entry is `<m>-<N>` with more than one digit.
    static func isLongRevision(_ item: PlanItem) -> Bool {
        guard let machine = item.path.machine?.rawValue, let entry = item.path.entry?.rawValue,
            entry.hasPrefix(machine + "-")
        else { return false }
        let digits = entry.dropFirst(machine.count + 1)
        return digits.count > 1 && digits.allSatisfy(\.isASCII) && digits.allSatisfy(\.isNumber)
    }

    static let bugs: [PlantedBug] = [
        // The issue's example: only one-digit revisions are revisions.
        PlantedBug(
            name: "only m-<N> with one digit is a revision",
            runner: CaseRunner(
                planTransform: rewriting(
                    { isLongRevision($0) && $0.kind == .subvolume && $0.reason == .revision }, to: .report,
                    .unknownEntry(.subvolume))),
            oracles: [.rules: 3]),
        // SPEC §3: the current link's target is kept whatever its name.
        PlantedBug(
            name: "a link target that is not named as a revision is deleted",
            runner: CaseRunner(
                planTransform: rewriting(
                    { item in
                        guard item.reason == .currentTarget, let machine = item.path.machine, let entry = item.path.entry
                        else { return false }
                        if case .revision = MachineEntryName(classifying: entry, machine: machine) { return false }
                        return true
                    // (As a bootstrapped machine of a toolchain no longer
                    // configured: the apply looks again for the link of a
                    // machine it deletes for want of one, and would keep it.)
                    }, to: .deleteSubvolume, .unconfiguredToolchain(.default))),
            oracles: [.rules: 3, .invariants: 3]),
        // The run keeps lock files its dry run says it removes.
        PlantedBug(
            name: "the run skips the lock files its dry run removes",
            runner: CaseRunner(
                applyTransform: rewriting({ $0.action == .removeLockFile }, to: .keep, .volume)),
            oracles: [.dryRun: 3, .rules: 3, .invariants: 3]),
        // Each run deletes only the first stale working snapshot.
        PlantedBug(
            name: "one working snapshot per run",
            runner: CaseRunner(planTransform: { plan in
                var plan = plan
                var seen = false
                for index in plan.items.indices {
                    guard case .staleWorkingSnapshot = plan.items[index].reason else { continue }
                    if seen { plan.items[index].action = .keep }
                    seen = true
                }
                return plan
            }),
            // Invariant 6 needs the link and its target beside the two
            // snapshots; with the link dangling the machine is in error.
            oracles: [.rules: 3, .secondRun: 3, .invariants: 4]),
    ]

    @Test("found by each oracle that should see it, shrunk to at most three entries", arguments: bugs)
    func planted(_ bug: PlantedBug) async {
        var session = FuzzSession(seed: 0xB06, runner: bug.runner)
        session.shrinkBudget = 1_500
        let summary = await session.run(.cases(600))
        let found = Set(summary.findings.map(\.failure.oracle))
        for (oracle, most) in bug.oracles.sorted(by: { $0.key < $1.key }) {
            #expect(found.contains(oracle), "\(bug.name): not seen by \(oracle.rawValue)")
            guard let finding = summary.findings.first(where: { $0.failure.oracle == oracle }) else { continue }
            #expect(
                finding.shrunk.layout.entries.count <= most,
                "\(bug.name), \(oracle.rawValue): shrunk to\n\(finding.shrunk.layout.text)")
            #expect(finding.shrunk.actors.isEmpty && finding.shrunk.faults.isEmpty && finding.shrunk.races.isEmpty)
            // The saved case names its oracle and its seed, and replays:
            // the production code (without the planted bug) passes it.
            let file = finding.scenarioFile(runSeed: 0xB06)
            #expect(file.contains("# Oracle: \(oracle.rawValue)"))
            #expect(file.contains("# Seed: 0x0000000000000b06, case \(finding.index)"))
            do {
                let compiled = try CompiledScenario.load(yaml: file)
                let options = try ExplorationOptions(compiled.scenario)
                let result = try Explorer(compiled, options: options).run()
                #expect(result.passed, "\(result.text)")
            } catch {
                Issue.record("the saved case does not replay: \(error)\n\(file)")
            }
        }
        // No oracle that should not see the bug complains.
        let expected = Set(bug.oracles.keys)
        #expect(found.isSubset(of: expected), "\(bug.name): also seen by \(found.subtracting(expected))")
    }

    @Test("without a planted bug, the same cases pass every oracle")
    func clean() async {
        let summary = await FuzzSession(seed: 0xB06).run(.cases(600))
        #expect(summary.failedCases == 0, "\(summary.findings.map(\.failure))")
    }
}
