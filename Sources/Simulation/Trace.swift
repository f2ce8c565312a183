import FSProtocol
import SimFS

/// One line of a run's trace: a call, a fault, or something an actor or
/// the host did.
struct TraceEntry: Hashable, Sendable {
    enum Event: Hashable, Sendable {
        case call(SimulatedCall, error: FSError.Kind?, injected: Bool, answer: String?)
        case note(ActorEventText)
        case started(pid: Int32)
        case finished(killed: Bool)
        case sleeping(until: Int)
        case woke
        case crashed
        case hostCrashed
        case committed
    }

    var step: Int
    var time: Int
    /// The actor, or nil for the host.
    var actor: Int?
    var event: Event
}

/// An actor event kept as text (what the journal heard).
struct ActorEventText: Hashable, Sendable {
    var text: String
}

extension TraceEntry {
    /// The line as printed: `step 12  t=300  agent-1[101]  snapshot ... = ok`.
    func line(actors: [String]) -> String {
        let who = actor.map { actors[$0] } ?? "host"
        let prefix = "step \(pad(step))  t=\(time)  \(who)"
        switch event {
        case .call(let call, let error, let injected, let answer):
            let outcome = error.map { "\($0.symbol)" + (injected ? " (injected)" : "") } ?? answer ?? "ok"
            return "\(prefix)[\(call.pid)]  \(call) = \(outcome)"
        case .note(let text): return "\(prefix)  note: \(text.text)"
        case .started(let pid): return "\(prefix)  started as pid \(pid)"
        case .finished(let killed): return "\(prefix)  " + (killed ? "stopped (its process died)" : "finished")
        case .sleeping(let until): return "\(prefix)  sleeps until t=\(until)"
        case .woke: return "\(prefix)  wakes"
        case .crashed: return "\(prefix)  crashes (its snapshots and lock files stay)"
        case .hostCrashed: return "\(prefix)  crashes: every process dies, uncommitted changes are lost"
        case .committed: return "\(prefix)  commits the btrfs transactions"
        }
    }

    private func pad(_ number: Int) -> String {
        let text = String(number)
        return String(repeating: " ", count: max(0, 4 - text.count)) + text
    }
}
