import MachineLayout
import Foundation
import Simulation

/// Simulated steps and schedules per second for "boot cleanup plus two
/// agents building", and the time of its bounded-exhaustive exploration.
enum SimulationBenchmark {
    static func run(repetitions: Int) throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let path = root.appendingPathComponent("Scenarios/cleanup-and-two-agents.yaml").path
        let compiled = try CompiledScenario.load(yaml: String(contentsOfFile: path, encoding: .utf8))
        print("simulation of \"\(compiled.name)\", \(repetitions) runs each, one core")
        for strategy in [StrategyName.random, .pct] {
            var rates: [(steps: Double, schedules: Double)] = []
            for repetition in 0..<repetitions {
                let options = ExplorationOptions(strategy: strategy, seed: UInt64(repetition + 1), schedules: 500)
                let result = try Explorer(compiled, options: options).run()
                rates.append((Double(result.steps) / result.seconds, Double(result.schedules) / result.seconds))
            }
            let steps = rates.map(\.steps).sorted()[rates.count / 2]
            let schedules = rates.map(\.schedules).sorted()[rates.count / 2]
            print(
                "  \(strategy.rawValue):\(String(repeating: " ", count: 12 - strategy.rawValue.count))"
                    + "\(pad(String(Int(steps)), 9)) steps/s  \(pad(String(Int(schedules)), 6)) schedules/s (median)")
        }
        let options = ExplorationOptions(strategy: .exhaustive, schedules: 10_000_000, preemptionBound: 2)
        let result = try Explorer(compiled, options: options).run()
        print(
            "  exhaustive, preemption bound 2: \(result.schedules) schedules, \(result.steps) steps, "
                + "\(format(result.seconds, 2)) s, \(Int(Double(result.steps) / result.seconds)) steps/s"
                + (result.exhausted ? ", every schedule within the bound" : ", budget reached"))
    }
}
