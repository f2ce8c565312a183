import Cleanup
import FSProtocol
import MachineLayout
import SimFS

/// How to explore a scenario; the command line and the tests override the
/// scenario file's own settings.
public struct ExplorationOptions: Hashable, Sendable {
    public var strategy: StrategyName
    public var seed: UInt64
    public var schedules: Int
    public var preemptionBound: Int
    public var pctDepth: Int
    public var replay: [Choice]?
    /// Whether the result keeps every schedule's cleanup reports (the
    /// fuzzer counts their branches); off, an exploration of many
    /// schedules does not hold them all.
    public var keepsCleanupReports = false

    public init(
        strategy: StrategyName = .random, seed: UInt64 = 1, schedules: Int = 100, preemptionBound: Int = 2,
        pctDepth: Int = 3, replay: [Choice]? = nil
    ) {
        self.strategy = strategy
        self.seed = seed
        self.schedules = schedules
        self.preemptionBound = preemptionBound
        self.pctDepth = pctDepth
        self.replay = replay
    }

    /// The scenario's own settings, each overridable.
    public init(
        _ scenario: Scenario, strategy: StrategyName? = nil, seed: UInt64? = nil, schedules: Int? = nil
    ) throws(ScenarioError) {
        self.strategy = strategy ?? scenario.strategy ?? .random
        self.seed = seed ?? scenario.seed ?? 1
        self.schedules = schedules ?? scenario.schedules ?? 100
        preemptionBound = scenario.preemptionBound ?? 2
        pctDepth = scenario.pctDepth ?? 3
        if self.strategy == .replay {
            guard let text = scenario.schedule, let choices = ScheduleText.parse(text) else {
                throw ScenarioError("strategy replay needs a schedule (choices such as 'r0 r1 c1 H')")
            }
            replay = choices
        }
    }
}

/// A violation found while exploring, with its shortest run.
public struct FoundViolation: Hashable, Sendable {
    public var violation: Violation
    /// The shortest schedule that broke it, and its trace up to the break.
    public var schedule: [Choice]
    public var seed: UInt64?
    public var trace: String
    /// How many schedules broke it.
    public var occurrences: Int
}

/// What exploring a scenario came to.
public struct ScenarioResult: Hashable, Sendable {
    public var scenario: String
    public var strategy: StrategyName
    public var seed: UInt64
    public var schedules = 0
    public var steps = 0
    /// The violations found, one per invariant, by invariant.
    public var violations: [FoundViolation] = []
    /// Expectations not met (besides violations).
    public var problems: [String] = []
    /// Bounded exhaustive: every schedule within the bound was run.
    public var exhausted = false
    public var seconds = 0.0
    /// The invariants the scenario expects some schedule to break.
    public var expectedViolations: [Int] = []
    /// The reports of the cleanups that finished, schedule by schedule,
    /// when the options keep them.
    public var cleanupReports: [Report] = []

    /// Whether the scenario came out as its file expects: exactly the
    /// expected violations, no problem.
    public var passed: Bool {
        problems.isEmpty && Set(violations.map(\.violation.invariant)) == Set(expectedViolations)
    }
}

/// Runs a scenario's schedules with one strategy and checks its
/// expectations.
public struct Explorer: Sendable {
    public let compiled: CompiledScenario
    public let options: ExplorationOptions

    public init(_ compiled: CompiledScenario, options: ExplorationOptions) {
        self.compiled = compiled
        self.options = options
    }

    /// Explores the scenario; a scenario that cannot run is an error
    /// with a message (the checks of `CompiledScenario` leave none).
    public func run() throws(ScenarioError) -> ScenarioResult {
        do {
            return try explore()
        } catch let error as ScenarioError {
            throw error
        } catch {
            throw ScenarioError("cannot run the scenario: \(error)")
        }
    }

    func explore() throws -> ScenarioResult {
        let start = ContinuousClock.now
        var exploration = Exploration(compiled: compiled, options: options)
        try exploration.prepare()
        switch options.strategy {
        case .random:
            for index in 0..<options.schedules {
                let seed = SeededRandom.derive(options.seed, index)
                try exploration.run(RandomStrategy(seed: seed), seed: seed)
            }
        case .pct:
            for index in 0..<options.schedules {
                let seed = SeededRandom.derive(options.seed, index)
                let strategy = PCTStrategy(
                    seed: seed, depth: options.pctDepth, expectedSteps: max(1, exploration.referenceSteps))
                try exploration.run(strategy, seed: seed)
            }
        case .exhaustive:
            try exploration.exhaustive(bound: options.preemptionBound, budget: options.schedules)
        case .replay:
            try exploration.run(ReplayStrategy(options.replay ?? []), seed: nil)
        }
        var result = exploration.result
        result.seconds = (ContinuousClock.now - start).seconds
        return result
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// The state of one exploration.
struct Exploration {
    let compiled: CompiledScenario
    let options: ExplorationOptions
    var result: ScenarioResult
    var reference: [String]?
    var expectedEnd: [String]?
    var referenceSteps = 0

    init(compiled: CompiledScenario, options: ExplorationOptions) {
        self.compiled = compiled
        self.options = options
        result = ScenarioResult(scenario: compiled.name, strategy: options.strategy, seed: options.seed)
        result.expectedViolations = compiled.scenario.expect.expectedViolations
    }

    /// The run without faults, the reference for convergence, and the
    /// expected end state in the same projection.
    mutating func prepare() throws {
        let run = try SimulationRun(compiled, strategy: PrefixStrategy(prefix: []), faults: false)
        let outcome = run.execute()
        referenceSteps = outcome.steps
        reference = Exploration.projection(outcome.endLayout)
        if let expected = compiled.expectedEnd {
            let host = try SimulatedHost(layout: expected)
            expectedEnd = Exploration.projection(host.layout(root: compiled.root))
        }
    }

    /// The machines root down to the entries of machine directories:
    /// kind, path, read-only, link target.
    static func projection(_ layout: Layout) -> [String] {
        layout.entries.filter { EntryName.components(of: $0.path).count <= 3 }.map { entry in
            var line = "\(entry.kind.rawValue) \(entry.path)"
            if entry.readOnly { line += " ro" }
            if let target = entry.target { line += " -> \(target)" }
            return line
        }
    }

    /// The lines of `expected` missing from `end`, and those of `end` not
    /// expected, each in its own order; by set lookups, not a search per
    /// line, as end states can be large.
    static func difference(_ expected: [String], _ end: [String]) -> (missing: [String], extra: [String]) {
        let expectedLines = Set(expected)
        let endLines = Set(end)
        return (expected.filter { !endLines.contains($0) }, end.filter { !expectedLines.contains($0) })
    }

    @discardableResult
    mutating func run(_ strategy: any SchedulingStrategy, seed: UInt64?) throws -> SimulationRun {
        let run = try SimulationRun(compiled, strategy: strategy, tracing: false)
        let outcome = run.execute()
        try evaluate(outcome, seed: seed)
        return run
    }

    /// The trace of a schedule, from a replay with tracing on.
    func trace(of choices: [Choice], upTo step: Int) throws -> String {
        let run = try SimulationRun(compiled, strategy: ReplayStrategy(choices))
        return run.execute().traceText(upTo: step)
    }

    mutating func evaluate(_ outcome: RunResult, seed: UInt64?) throws {
        result.schedules += 1
        result.steps += outcome.steps
        if options.keepsCleanupReports { result.cleanupReports += outcome.cleanupReports }
        var violations = outcome.violations
        let end = Exploration.projection(outcome.endLayout)
        if violations.isEmpty, compiled.scenario.expect.converges == true, outcome.faulted, let reference, end != reference {
            let (missing, extra) = Exploration.difference(reference, end)
            violations.append(
                Violation(
                    invariant: 8,
                    message: "the end state differs from the run without faults: missing \(missing), extra \(extra)",
                    step: outcome.steps))
        }
        if violations.isEmpty, let expectedEnd, end != expectedEnd, result.problems.isEmpty {
            let (missing, extra) = Exploration.difference(expectedEnd, end)
            result.problems.append(
                "end state differs (schedule \(ScheduleText.format(outcome.choices))): missing \(missing), extra \(extra)")
        }
        for violation in violations {
            let index = result.violations.firstIndex { $0.violation.invariant == violation.invariant }
            if let index {
                result.violations[index].occurrences += 1
                if outcome.choices.count >= result.violations[index].schedule.count { continue }
            }
            // A new or shorter counterexample: replay it for its trace.
            let trace = outcome.trace.isEmpty ? try trace(of: outcome.choices, upTo: violation.step) : outcome.traceText(upTo: violation.step)
            let found = FoundViolation(
                violation: violation, schedule: outcome.choices, seed: seed, trace: trace,
                occurrences: index.map { result.violations[$0].occurrences } ?? 1)
            if let index {
                result.violations[index] = found
            } else {
                result.violations.append(found)
                result.violations.sort { $0.violation.invariant < $1.violation.invariant }
            }
        }
    }

    /// Every schedule with at most `bound` preemptions (switching away
    /// from an actor that could go on), depth first, by re-running
    /// prefixes: a run is deterministic, so a prefix leads to the same
    /// state every time.
    mutating func exhaustive(bound: Int, budget: Int) throws {
        var stack: [ExplorationFrame] = []
        var prefix: [Choice] = []
        while result.schedules < budget {
            let run = try self.run(PrefixStrategy(prefix: prefix), seed: nil)
            guard let strategy = run.strategy as? PrefixStrategy else { return }
            stack.removeLast(stack.count - min(stack.count, prefix.count))
            stack += strategy.frames
            guard let next = Exploration.backtrack(&stack, bound: bound) else {
                result.exhausted = true
                return
            }
            prefix = next
        }
    }

    /// Moves the deepest frame with an untried option within the bound to
    /// that option; the new prefix, or nil when none is left.
    static func backtrack(_ stack: inout [ExplorationFrame], bound: Int) -> [Choice]? {
        var preemptions: [Int] = []
        var count = 0
        for frame in stack {
            preemptions.append(count)
            if frame.preempts(frame.options[frame.chosen]) { count += 1 }
        }
        while let top = stack.last {
            let before = preemptions[stack.count - 1]
            // An option over the bound stays over it: the frames above
            // this one are fixed while it is on the stack.
            let next = top.options.indices.dropFirst(top.considered).first { index in
                !top.wasTried(index) && before + (top.preempts(top.options[index]) ? 1 : 0) <= bound
            }
            if let next {
                stack[stack.count - 1].chosen = next
                stack[stack.count - 1].considered = next + 1
                return stack.map { $0.options[$0.chosen] }
            }
            stack.removeLast()
        }
        return nil
    }
}
