import FSProtocol
import SimFS
import Synchronization

/// A gate for tests that need another process to act at one precise
/// moment of a run: after a call that matches, before the watched
/// process's next call, run an action (which may use other processes).
/// Calls of every other process pass straight through.
public final class ScriptedGate: SimulationGate, Sendable {
    public typealias Action = @Sendable () async throws -> Void

    private struct Trigger {
        var matches: @Sendable (SimulatedCall) -> Bool
        var action: Action
    }

    private struct State {
        var triggers: [Trigger] = []
        var due: [Action] = []
        var calls: [SimulatedCall] = []
    }

    private let watched: Int32
    private let failing: (@Sendable (SimulatedCall) -> FSError.Kind?)?
    private let state = Mutex(State())

    /// `failing` chooses the watched process's calls that fail, and how.
    public init(watching pid: Int32, failing: (@Sendable (SimulatedCall) -> FSError.Kind?)? = nil) {
        watched = pid
        self.failing = failing
    }

    /// After the first call of the watched process that matches, runs
    /// `action` before its next call.
    public func after(_ matches: @escaping @Sendable (SimulatedCall) -> Bool, run action: @escaping Action) {
        state.withLock { $0.triggers.append(Trigger(matches: matches, action: action)) }
    }

    /// The watched process's calls so far.
    public var calls: [SimulatedCall] { state.withLock { $0.calls } }

    public func waitForTurn(of pid: Int32) async -> Bool {
        guard pid == watched else { return true }
        let due = state.withLock { state in
            defer { state.due = [] }
            return state.due
        }
        for action in due { try? await action() }
        return true
    }

    public func decide(_ call: SimulatedCall) -> GateDecision {
        guard call.pid == watched else { return .proceed }
        state.withLock { state in
            state.calls.append(call)
            if let index = state.triggers.firstIndex(where: { $0.matches(call) }) {
                state.due.append(state.triggers.remove(at: index).action)
            }
        }
        if let kind = failing?(call) { return .fail(kind) }
        return .proceed
    }
}

/// Records every event of a host, for tests that check what a run did.
public final class EventRecorder: SimulationObserver, Sendable {
    private let recorded = Mutex<[SimulatedEvent]>([])

    public init() {}

    public func didPerform(_ event: SimulatedEvent) {
        recorded.withLock { $0.append(event) }
    }

    public var events: [SimulatedEvent] { recorded.withLock { $0 } }

    /// The effects of every call, in order.
    public var effects: [SimulatedEffect] { events.flatMap(\.effects) }
}

/// A gate that fails chosen calls of one process with an injected error:
/// `decide` gets each call and its index among that process's calls (from
/// 0) and answers the error, or nil to let it run. Other processes pass.
public final class FailingGate: SimulationGate, Sendable {
    public typealias Decide = @Sendable (SimulatedCall, Int) -> FSError.Kind?

    private let watched: Int32
    private let choose: Decide
    private let state = Mutex((count: 0, failed: [SimulatedCall]()))

    public init(watching pid: Int32, _ decide: @escaping Decide) {
        watched = pid
        choose = decide
    }

    /// The calls it failed.
    public var failed: [SimulatedCall] { state.withLock { $0.failed } }

    /// How many calls of the watched process it saw.
    public var callCount: Int { state.withLock { $0.count } }

    public func waitForTurn(of pid: Int32) async -> Bool { true }

    public func decide(_ call: SimulatedCall) -> GateDecision {
        guard call.pid == watched else { return .proceed }
        return state.withLock { state in
            defer { state.count += 1 }
            guard let kind = choose(call, state.count) else { return .proceed }
            state.failed.append(call)
            return .fail(kind)
        }
    }
}

/// A gate that stops one process before its call number `index` (from
/// 0): kills it, as a crash of that process, or crashes the whole host
/// (what no transaction committed is lost). Other processes pass.
public final class StoppingGate: SimulationGate, Sendable {
    public enum Stop: Sendable {
        case kill
        case hostCrash
    }

    private let process: SimulatedProcess
    private let index: Int
    private let stop: Stop
    private let state = Mutex((count: 0, stopped: false))

    public init(stopping process: SimulatedProcess, before index: Int, by stop: Stop) {
        self.process = process
        self.index = index
        self.stop = stop
    }

    /// Whether the process was stopped (false: it made fewer calls).
    public var stopped: Bool { state.withLock { $0.stopped } }

    public func waitForTurn(of pid: Int32) async -> Bool {
        guard pid == process.processID else { return true }
        let due = state.withLock { state -> Bool in
            defer { state.count += 1 }
            guard state.count == index else { return false }
            state.stopped = true
            return true
        }
        if due {
            switch stop {
            case .kill: process.host.kill(process)
            case .hostCrash: process.host.crash()
            }
        }
        return true
    }

    public func decide(_ call: SimulatedCall) -> GateDecision { .proceed }

    public var wantsSubjects: Bool { false }
}

extension FailingGate {
    /// A gate that fails, with `kind`, the `number`th call of process
    /// `pid` that `matches` (counting from 1), and no other.
    public static func failing(
        _ number: Int, of matches: @escaping @Sendable (SimulatedCall) -> Bool, with kind: FSError.Kind,
        watching pid: Int32
    ) -> FailingGate {
        let seen = Mutex(0)
        return FailingGate(watching: pid) { call, _ in
            guard matches(call) else { return nil }
            return seen.withLock { count in
                count += 1
                return count == number ? kind : nil
            }
        }
    }
}
