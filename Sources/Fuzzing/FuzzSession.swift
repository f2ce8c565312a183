import FSProtocol
import MachineLayout

/// A run of the fuzzer: cases drawn from one seed, one after the other,
/// each judged; the first failure of each oracle shrunk.
public struct FuzzSession: Sendable {
    public var seed: UInt64
    public var generator: WorldGenerator
    public var runner: CaseRunner
    /// Whether failures are shrunk (the tests of the oracles want the
    /// shrunk case; a long run wants speed as well).
    public var shrinks = true
    /// Runs a shrink may take.
    public var shrinkBudget = 4_000

    public init(seed: UInt64, generator: WorldGenerator = WorldGenerator(), runner: CaseRunner = CaseRunner()) {
        self.seed = seed
        self.generator = generator
        self.runner = runner
    }

    /// A failing case: the world as drawn, the shrunk one, and what failed.
    public struct Finding: Sendable {
        /// Which case of the run (from 0): `--seed S --cases INDEX+1` draws it again.
        public var index: Int
        public var original: FuzzWorld
        public var shrunk: FuzzWorld
        public var failure: OracleFailure

        /// The shrunk case as a scenario file `scenario run` replays, with
        /// comments that say where it came from. A differential finding
        /// is drawn again on a real btrfs; its scenario replays the
        /// simulated side only.
        /// `drawnWith`: the options, besides the seed and the count, that
        /// draw the case again (`--layout FILE `).
        public func scenarioFile(runSeed: UInt64, drawnWith: String = "") -> String {
            let scenario = shrunk.scenario(oracle: failure.oracle, message: failure.message)
            var notes: [String] = []
            if !shrunk.heldLocks.isEmpty {
                // A scenario has no actor that only holds a lock.
                notes.append("Not in the scenario: builds held the locks \(shrunk.heldLocks.joined(separator: ", ")).")
            }
            if !shrunk.undecodable.isEmpty {
                // A layout holds text; these names are bytes.
                let names = shrunk.undecodable.map { entry in
                    let target = entry.target.map { " -> " + EntryName.rendering(of: $0) } ?? ""
                    return "\(entry.kind) \(entry.path)\(target)"
                }.joined(separator: ", ")
                notes.append("Not in the scenario: entries whose names or link targets are not UTF-8: \(names).")
            }
            if !shrunk.races.isEmpty {
                notes.append("The races ran right after the scan; here a script runs them when the strategy says.")
            }
            let differential = failure.oracle == .differential
            return scenario.fileText(comments: notes + [
                "Found by buildos-clean-dev fuzz, shrunk from \(original.layout.entries.count) to "
                    + "\(shrunk.layout.entries.count) layout entries.",
                "Oracle: \(failure.oracle.rawValue)", "Failure: \(failure.message)",
                "Seed: \(FuzzWorld.hex(runSeed)), case \(index) (world seed \(FuzzWorld.hex(original.seed)))",
                "Draw it again: buildos-clean-dev fuzz \(differential ? "--real DIR " : "")\(drawnWith)--seed "
                    + "\(FuzzWorld.hex(runSeed)) --cases \(index + 1)",
                differential
                    ? "Replay the simulated side: buildos-clean-dev scenario run THIS-FILE (the real side needs --real)"
                    : "Replay it: buildos-clean-dev scenario run THIS-FILE",
            ])
        }
    }

    /// Where a run stands: the progress line and the final report.
    public struct Summary: Sendable {
        public var cases = 0
        /// Cases with at least one failure.
        public var failedCases = 0
        public var failuresByOracle: [FuzzOracle: Int] = [:]
        public var findings: [Finding] = []
        public var coverage = BranchCoverage()
        public var seconds = 0.0

        public var rate: Double { seconds > 0 ? Double(cases) / seconds : 0 }
    }

    /// When a run stops.
    public enum Budget: Sendable {
        case cases(Int)
        case seconds(Double)
    }

    /// Runs cases until the budget is spent; `progress` is called after
    /// every case with the summary so far (it decides itself how often to
    /// print).
    public func run(_ budget: Budget, progress: (Summary) -> Void = { _ in }) async -> Summary {
        var summary = Summary()
        let start = ContinuousClock.now
        var index = 0
        while true {
            switch budget {
            case .cases(let count): if index >= count { return finished(summary, start) }
            case .seconds(let limit):
                // A time budget runs at least one case: a run of none
                // would report success having checked nothing.
                if index > 0, (ContinuousClock.now - start).fuzzSeconds >= limit { return finished(summary, start) }
            }
            let world = generator.world(seed: WorldGenerator.caseSeed(seed, index))
            let outcome = await runner.run(world)
            summary.cases += 1
            summary.coverage.merge(outcome.coverage)
            if !outcome.failures.isEmpty { summary.failedCases += 1 }
            for oracle in outcome.oracles.sorted() {
                summary.failuresByOracle[oracle, default: 0] += 1
                guard !summary.findings.contains(where: { $0.failure.oracle == oracle }),
                    let failure = outcome.failures.first(where: { $0.oracle == oracle })
                else { continue }
                var finding = Finding(index: index, original: world, shrunk: world, failure: failure)
                if shrinks {
                    let (shrunk, shrunkFailure) = await Shrinker(runner: runner, budget: shrinkBudget).shrink(
                        world, keeping: oracle)
                    finding.shrunk = shrunk
                    finding.failure = shrunkFailure ?? failure
                }
                summary.findings.append(finding)
            }
            summary.seconds = (ContinuousClock.now - start).fuzzSeconds
            progress(summary)
            index += 1
        }
    }

    private func finished(_ summary: Summary, _ start: ContinuousClock.Instant) -> Summary {
        var summary = summary
        summary.seconds = (ContinuousClock.now - start).fuzzSeconds
        return summary
    }
}

extension Duration {
    var fuzzSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
