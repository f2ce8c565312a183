#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
import MachineLayout
import Yams

extension Explorer {
    /// The first schedule the exploration runs (schedule 0 of its
    /// strategy and seed, or the replayed one), run again with tracing.
    func firstSchedule() throws -> RunResult {
        let strategy: any SchedulingStrategy
        let seed = SeededRandom.derive(options.seed, 0)
        switch options.strategy {
        case .random:
            strategy = RandomStrategy(seed: seed)
        case .pct:
            var exploration = Exploration(compiled: compiled, options: options)
            try exploration.prepare()
            strategy = PCTStrategy(
                seed: seed, depth: options.pctDepth, expectedSteps: max(1, exploration.referenceSteps))
        case .exhaustive:
            strategy = PrefixStrategy(prefix: [])
        case .replay:
            strategy = ReplayStrategy(options.replay ?? [])
        }
        return try SimulationRun(compiled, strategy: strategy).execute()
    }

    /// The trace of the first schedule.
    public func trace() throws -> String {
        try firstSchedule().traceText()
    }

    /// The machine commands of the first schedule that did not finish
    /// (`ACTOR: machine add v/m: failed (exit 64, code): message`): a
    /// command refused still lets the scenario pass, and a misspelt
    /// machine is refused so.
    public func failedCommands() throws -> [String] {
        try firstSchedule().failedCommands
    }

    /// The machines root after the first schedule, as a layout.
    public func endState() throws -> String {
        try firstSchedule().endLayout.text
    }
}

extension ScenarioResult {
    /// The result in words: a line for the scenario, then each violation
    /// with its seed, schedule and shortest trace.
    public var text: String {
        var lines: [String] = []
        let verdict = passed ? "pass" : "FAIL"
        // The scenario's name is the file's: one line whatever it holds.
        let name = Diagnostic.escapingControlCharacters(scenario)
        var summary = "\(verdict)  \(name): \(strategy.rawValue), \(schedules) schedules, \(steps) steps"
        if strategy == .exhaustive { summary += exhausted ? ", all within the bound" : ", budget reached" }
        summary += ", \(format(seconds)) s"
        lines.append(summary)
        for expected in expectedViolations {
            let found = violations.contains { $0.violation.invariant == expected }
            lines.append("  expected violation of invariant \(expected): " + (found ? "found" : "NOT found"))
        }
        for problem in problems { lines.append("  problem: \(problem)") }
        for found in violations {
            lines.append("  violation: \(found.violation) (\(found.occurrences) schedules)")
            if let seed = found.seed { lines.append("    seed: \(seed)") }
            lines.append("    schedule: \(ScheduleText.format(found.schedule))")
            lines.append("    trace:")
            lines += found.trace.split(separator: "\n").map { "      " + $0 }
        }
        return lines.joined(separator: "\n")
    }

    private func format(_ value: Double) -> String {
        let hundredths = Int((value * 100).rounded())
        return "\(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100)"
    }

    /// The result as a JSON-ready document.
    public var document: ResultDocument {
        ResultDocument(
            scenario: scenario, strategy: strategy.rawValue, seed: seed, passed: passed, schedules: schedules,
            steps: steps, exhausted: strategy == .exhaustive ? exhausted : nil, seconds: seconds,
            expectedViolations: expectedViolations, problems: problems,
            violations: violations.map {
                ResultDocument.ViolationDocument(
                    invariant: $0.violation.invariant, title: Violation.title($0.violation.invariant),
                    message: $0.violation.message, step: $0.violation.step, seed: $0.seed,
                    schedule: ScheduleText.format($0.schedule), occurrences: $0.occurrences,
                    trace: $0.trace.split(separator: "\n").map(String.init))
            })
    }
}

/// A scenario's result for scripts.
public struct ResultDocument: Codable, Hashable, Sendable {
    public var scenario: String
    public var strategy: String
    public var seed: UInt64
    public var passed: Bool
    public var schedules: Int
    public var steps: Int
    public var exhausted: Bool?
    public var seconds: Double
    public var expectedViolations: [Int]
    public var problems: [String]
    public var violations: [ViolationDocument]

    public struct ViolationDocument: Codable, Hashable, Sendable {
        public var invariant: Int
        public var title: String
        public var message: String
        public var step: Int
        public var seed: UInt64?
        public var schedule: String
        public var occurrences: Int
        public var trace: [String]
    }

    /// Several results as one JSON array, keys sorted.
    public static func json(_ documents: [ResultDocument]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(documents) else { return "[]" }
        return String(decoding: data, as: UTF8.self)
    }
}

extension CompiledScenario {
    /// A scenario file that replays one schedule and expects what it found:
    /// `scenario run` accepts it.
    public func replayFile(for found: FoundViolation) -> String {
        var replay = scenario
        replay.name = scenario.name + " (replay of invariant \(found.violation.invariant))"
        replay.strategy = .replay
        replay.schedule = ScheduleText.format(found.schedule)
        replay.schedules = 1
        replay.seed = found.seed
        var expect = Expectation()
        expect.violation = found.violation.invariant == 0 ? nil : found.violation.invariant
        if expect.violation == nil { expect.invariants = "hold" }
        replay.expect = expect
        return replay.fileText(comments: [
            "Replay of a violation found by buildos-clean-dev scenario run:", "\(found.violation)",
            "Run it with: buildos-clean-dev scenario run THIS-FILE",
        ])
    }
}

extension Scenario {
    /// The scenario as a file `scenario run` reads, after comment lines.
    public func fileText(comments: [String]) -> String {
        let header = comments.flatMap { $0.split(separator: "\n", omittingEmptySubsequences: false) }
            .map { "# " + $0 + "\n" }.joined() + "\n"
        let encoder = YAMLEncoder()
        encoder.options.newLineScalarStyle = .literal
        encoder.options.allowUnicode = true
        // No line is wrapped: a long value stays on its line (a layout on
        // one line, folded over several, would be refused).
        encoder.options.width = -1
        return header + ((try? encoder.encode(self)) ?? "")
    }
}
