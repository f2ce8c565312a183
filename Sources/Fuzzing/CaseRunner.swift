import Cleanup
import FSProtocol
import MachineLayout
import SimFS
import Simulation

/// The oracles a case is judged by.
public enum FuzzOracle: String, Hashable, Sendable, CaseIterable, Comparable, Codable {
    /// Every input gets a plan or a clear error; nothing traps.
    case noCrash = "no-crash"
    /// The invariants of SPEC §6 (the simulation's checker), and nothing
    /// outside the root touched.
    case invariants
    /// The end state and lines agree with `RulesModel`.
    case rules
    /// The dry run touches nothing, and its plan is what the apply does.
    case dryRun = "dry-run"
    /// A second run changes nothing.
    case secondRun = "second-run"
    /// The tree built on a real btrfs, cleaned by the real backend, ends
    /// as it does on SimFS, with the same lines (`CaseRunner.realDirectory`).
    case differential

    public static func < (lhs: FuzzOracle, rhs: FuzzOracle) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// One oracle's complaint about a case.
public struct OracleFailure: Hashable, Sendable, CustomStringConvertible {
    public var oracle: FuzzOracle
    public var message: String

    public init(_ oracle: FuzzOracle, _ message: String) {
        self.oracle = oracle
        self.message = message
    }

    public var description: String { "\(oracle.rawValue): \(message)" }
}

/// What a case came to.
public struct CaseOutcome: Sendable {
    public var failures: [OracleFailure] = []
    public var coverage = BranchCoverage()

    public var oracles: Set<FuzzOracle> { Set(failures.map(\.oracle)) }
}

/// Runs one world and judges it.
///
/// A world without actors runs on a quiet host: the dry run, then the
/// cleanup (with the world's faults and held locks), then a second run,
/// all straight on one `SimulatedHost` with the invariant checker watching;
/// the rules model, the dry run and the second run are compared with what
/// happened. A world with actors runs as a scenario under the scheduler
/// (one random schedule), judged by the invariants. With a real directory,
/// every world runs as a differential case instead (`DifferentialCase`):
/// its tree built and cleaned on the real btrfs and on SimFS, and the two
/// compared.
public struct CaseRunner: Sendable {
    /// Applied to each plan, the dry run's too: how tests plant a bug in
    /// the keep rules to see the oracles catch it. Nil in real runs.
    public var planTransform: (@Sendable (Plan) -> Plan)?
    /// Applied after `planTransform` to the plans carried out only: a bug
    /// by which the run does other than its dry run says.
    public var applyTransform: (@Sendable (Plan) -> Plan)?
    /// A directory on a btrfs mount (absolute) where each world's tree is
    /// built for the differential mode, in a fresh directory of its own
    /// that is removed afterwards; nil: no differential mode. Needs root.
    public var realDirectory: String?
    /// Calls of the simulated cleanup that fail in the differential mode:
    /// how tests plant a SimFS bug to see the comparison catch it. Empty
    /// in real runs.
    public var simulatedFaults: [CallFault]

    public init(
        planTransform: (@Sendable (Plan) -> Plan)? = nil, applyTransform: (@Sendable (Plan) -> Plan)? = nil,
        realDirectory: String? = nil, simulatedFaults: [CallFault] = []
    ) {
        self.planTransform = planTransform
        self.applyTransform = applyTransform
        self.realDirectory = realDirectory
        self.simulatedFaults = simulatedFaults
    }

    public func run(_ world: FuzzWorld) async -> CaseOutcome {
        if let realDirectory {
            var differential = DifferentialCase(
                world: world, realDirectory: realDirectory, simulatedFaults: simulatedFaults)
            return await differential.run()
        }
        if world.isConcurrent { return runScenario(world) }
        var quiet = QuietCase(world: world, planTransform: planTransform, applyTransform: applyTransform)
        return await quiet.run()
    }

    /// A world with actors, under the scheduler.
    func runScenario(_ world: FuzzWorld) -> CaseOutcome {
        var outcome = CaseOutcome()
        let scenario = world.scenario(oracle: nil, message: nil)
        let compiled: CompiledScenario
        do {
            compiled = try CompiledScenario(scenario)
        } catch {
            if case .failure = world.toolchainSet {
                outcome.coverage.hit("configuration:refused")
                return outcome
            }
            outcome.failures.append(OracleFailure(.noCrash, "the generated scenario is refused: \(error)"))
            return outcome
        }
        do {
            var options = ExplorationOptions(strategy: .random, seed: world.seed, schedules: 1)
            options.keepsCleanupReports = true
            let result = try Explorer(compiled, options: options).run()
            for found in result.violations {
                outcome.failures.append(OracleFailure(.invariants, "\(found.violation)"))
            }
            for report in result.cleanupReports { outcome.coverage.record(report) }
        } catch {
            outcome.failures.append(OracleFailure(.noCrash, "the scenario cannot run: \(error)"))
        }
        return outcome
    }
}
