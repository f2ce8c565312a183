import Cleanup
import FSProtocol
import MachineLayout
import SimFS

/// The invariants of SPEC §6 over cleanups run straight on a host,
/// without the scheduler: the fuzzer's cases with no actor beside the
/// cleanup. The same checker as the simulation's (`InvariantChecker`), fed
/// by an observer installed on the host.
///
/// Install it, note each cleanup process with `started(_:)`, run the
/// cleanups, then `finish` with the last boot cleanup's report.
public final class CleanupInvariants: SimulationObserver, @unchecked Sendable {
    // Confined to the thread that runs the cleanups: the host calls the
    // observer inside each call, and a fuzz case runs on one thread.
    private var checker: InvariantChecker
    private let host: SimulatedHost
    private var calls = 0

    public init(host: SimulatedHost, root: String, toolchains: ToolchainSet) {
        self.host = host
        checker = InvariantChecker(root: root, toolchains: toolchains)
    }

    /// A cleanup (or another process) starts.
    public func started(_ process: SimulatedProcess, cleanup: Bool) {
        checker.observe(
            .started(pid: process.processID, role: cleanup ? .cleanup : .other, name: cleanup ? "cleanup" : "holder"),
            step: calls)
    }

    public var wantsSubjects: Bool { false }

    public func didPerform(_ event: SimulatedEvent) {
        calls += 1
        if InvariantChecker.concerns(event) { checker.observe(checker.runEvent(for: event, on: host), step: calls) }
    }

    /// The violations, after the end-of-run checks: invariant 6 on the
    /// last cleanup's `report` when it ran in boot mode, then 5 and 7.
    public func finish(lastReport report: Report) -> [Violation] {
        let reported = Set(report.diagnostics.map(\.path))
        if report.mode == .boot {
            checker.observe(
                .bootCleanupFinished(
                    reported: reported, agentsRunning: false,
                    root: host.layout(root: checker.root)),
                step: calls)
        }
        checker.observe(checker.endEvent(on: host, reported: reported), step: calls)
        return checker.violations
    }
}
