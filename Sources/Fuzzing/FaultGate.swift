import FSProtocol
import SimFS

/// Fails the cleanup's calls that a world's faults name, without a
/// scheduler: no call waits. The same matching as the simulation's
/// injected errors (the first `count` calls of the operation whose subject
/// holds the path), so a saved case replays under `scenario run`.
final class FaultGate: SimulationGate, @unchecked Sendable {
    // Confined to the thread running the case; `decide` runs with the host
    // locked, and this only counts.
    private var remaining: [CallFault]
    private let pid: Int32
    private(set) var injected = 0

    init(_ faults: [CallFault], pid: Int32) {
        remaining = faults
        self.pid = pid
    }

    func waitForTurn(of pid: Int32) async -> Bool { true }

    func decide(_ call: SimulatedCall) -> GateDecision {
        guard call.pid == pid else { return .proceed }
        for index in remaining.indices where remaining[index].count > 0 {
            let fault = remaining[index]
            guard fault.operation == call.operation, call.subject.containsBytes(fault.path) else { continue }
            remaining[index].count -= 1
            injected += 1
            return .fail(fault.error)
        }
        return .proceed
    }
}
