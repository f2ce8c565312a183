import Cleanup
import FSProtocol
import MachineLayout
import SimFS

/// The invariants of SPEC §6 over cleanups run straight on a host,
/// without the scheduler: the fuzzer's cases with no actor beside the
/// cleanup. The same checker as the simulation's (`InvariantChecker`), fed
/// by an observer installed on the host.
///
/// Install it, note each cleanup process with `started(_:cleanup:)`, run
/// the cleanups, each followed by `cleanupFinished(_:)`, then `finish`
/// with the last one's report.
public final class CleanupInvariants: SimulationObserver, @unchecked Sendable {
    /// The paths a report's lines name, by bytes: what the invariants
    /// accept as kept on purpose.
    static func reported(by report: Report) -> Set<ExactText> {
        Set(report.diagnostics.map { ExactText($0.path) })
    }

    // Confined to the thread that runs the cleanups: the host calls the
    // observer inside each call, and a fuzz case runs on one thread.
    private var checker: InvariantChecker
    // Unowned: the host holds its observer, so a strong reference back
    // would keep both alive after the case (a fuzz run grew by about 20 KB
    // a case, every world's host).
    private unowned let host: SimulatedHost
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

    /// A cleanup finished: invariant 6 on its report when it ran in boot
    /// mode (a machine directory holds only what it keeps or reported).
    /// `tree`: the machines root now, when the caller has read it already.
    public func cleanupFinished(_ report: Report, tree: Layout? = nil) {
        guard report.mode == .boot else { return }
        checker.observe(
            .bootCleanupFinished(
                reported: CleanupInvariants.reported(by: report), othersRan: false,
                root: tree ?? host.layout(root: checker.root)),
            step: calls)
    }

    /// The violations, after the end-of-run checks (5 and 7, with the
    /// last cleanup's report; `tree` as for `cleanupFinished`).
    public func finish(lastReport report: Report, tree: Layout? = nil) -> [Violation] {
        checker.observe(
            checker.endEvent(on: host, reported: CleanupInvariants.reported(by: report), tree: tree), step: calls)
        return checker.violations
    }
}
