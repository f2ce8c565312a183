import MachineLayout
import Cleanup
import FSProtocol
// buildos-clean-bench: the benchmarks of docs/benchmarks.md.
//
//   buildos-clean-bench scan-plan [REPETITIONS]
//   buildos-clean-bench simulation [REPETITIONS]
//   buildos-clean-bench step-cost
//   buildos-clean-bench cleanup-scale [strays|observed|trees] [SIZES...]
//   buildos-clean-bench snapshot-cycles [CYCLES [SIZES...]]
//   buildos-clean-bench fuzz-cases [CASES] | fuzz-quiet [CASES] | fuzz-bare [CASES] | fuzz-calls [CASES]
//   buildos-clean-bench fuzz-dry [ROUNDS] | fuzz-model [CASES] | sim-call [CALLS] | fuzz-phases [CASES]
//   buildos-clean-bench cleanup-fixed [ROUNDS]
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
case "cleanup-scale":
    let which = arguments.dropFirst().first
    let given = arguments.dropFirst(2).compactMap { Int($0) }
    func sizes(of part: String, default defaultSizes: [Int]) -> [Int] {
        if which == nil { return defaultSizes }
        guard which == part else { return [] }
        return given.isEmpty ? defaultSizes : given
    }
    try await CleanupScaleBenchmark.run(
        strays: sizes(of: "strays", default: [10_000, 30_000, 100_000]),
        observed: sizes(of: "observed", default: [10_000, 30_000, 100_000]),
        trees: sizes(of: "trees", default: [100_000, 300_000, 1_000_000]))
case "snapshot-cycles":
    let cycles = arguments.dropFirst().first.flatMap { Int($0) } ?? 2_000
    let sizes = arguments.dropFirst(2).compactMap { Int($0) }
    try await SnapshotCyclesBenchmark.run(sizes: sizes.isEmpty ? [100_000, 300_000, 1_000_000] : sizes, cycles: cycles)
case "fuzz-quiet":
    await FuzzCasesBenchmark.quietOnly(cases: arguments.dropFirst().first.flatMap { Int($0) } ?? 20_000)
case "fuzz-bare":
    await FuzzCasesBenchmark.bare(cases: arguments.dropFirst().first.flatMap { Int($0) } ?? 20_000)
case "fuzz-calls":
    await FuzzCasesBenchmark.calls(cases: arguments.dropFirst().first.flatMap { Int($0) } ?? 5_000)
case "fuzz-phases":
    await FuzzPhasesBenchmark.run(cases: arguments.dropFirst().first.flatMap { Int($0) } ?? 3_000)
case "fuzz-model":
    FuzzCasesBenchmark.model(cases: arguments.dropFirst().first.flatMap { Int($0) } ?? 5_000)
case "fuzz-dry":
    await FuzzCasesBenchmark.dryRuns(cases: 2_000, rounds: arguments.dropFirst().first.flatMap { Int($0) } ?? 20)
case "sim-call":
    try await SimulatedCallBenchmark.run(calls: arguments.dropFirst().first.flatMap { Int($0) } ?? 1_000_000)
case "cleanup-fixed":
    try await CleanupFixedCostBenchmark.run(rounds: arguments.dropFirst().first.flatMap { Int($0) } ?? 20_000)
case "fuzz-cases":
    await FuzzCasesBenchmark.run(cases: arguments.dropFirst().first.flatMap { Int($0) } ?? 20_000)
default:
    print(
        "usage: buildos-clean-bench scan-plan [REPETITIONS] | simulation [REPETITIONS] | step-cost\n"
            + "       buildos-clean-bench cleanup-scale [strays|observed|trees] [SIZES...] | snapshot-cycles [CYCLES [SIZES...]]\n"
            + "       buildos-clean-bench scan-plan-split [MACHINES] | plan-only [MACHINES] | sizes | fuzz-cases [CASES]\n"
            + "       buildos-clean-bench fuzz-quiet [CASES] | fuzz-bare [CASES] | fuzz-calls [CASES]\n"
            + "       buildos-clean-bench fuzz-dry [ROUNDS] | fuzz-model [CASES] | sim-call [CALLS] | fuzz-phases [CASES]\n"
            + "       buildos-clean-bench cleanup-fixed [ROUNDS]")
}
