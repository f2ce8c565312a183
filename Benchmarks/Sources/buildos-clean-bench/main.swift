import Cleanup
import FSProtocol
// buildos-clean-bench: the benchmarks of docs/benchmarks.md.
//
//   buildos-clean-bench scan-plan [REPETITIONS]
//   buildos-clean-bench simulation [REPETITIONS]
//   buildos-clean-bench step-cost
let arguments = Array(CommandLine.arguments.dropFirst())
switch arguments.first {
case "scan-plan":
    let repetitions = arguments.dropFirst().first.flatMap { Int($0) } ?? 5
    try await ScanPlanBenchmark.run(sizes: [1_000, 10_000, 100_000], repetitions: repetitions)
case "scan-plan-split":
    try await ScanPlanBenchmark.split(machines: arguments.dropFirst().first.flatMap { Int($0) } ?? 100_000)
case "plan-only":
    ScanPlanBenchmark.planOnly(machines: arguments.dropFirst().first.flatMap { Int($0) } ?? 100_000)
case "sizes":
    print("PlanItem \(MemoryLayout<PlanItem>.stride), Reason \(MemoryLayout<Reason>.stride), EntryPath \(MemoryLayout<EntryPath>.stride), DirectoryEntry \(MemoryLayout<DirectoryEntry>.stride)")
case "simulation":
    try SimulationBenchmark.run(repetitions: arguments.dropFirst().first.flatMap { Int($0) } ?? 5)
case "step-cost":
    StepCostBenchmark.run()
default:
    print(
        "usage: buildos-clean-bench scan-plan [REPETITIONS] | simulation [REPETITIONS] | step-cost\n"
            + "       buildos-clean-bench scan-plan-split [MACHINES] | plan-only [MACHINES] | sizes")
}
