import FSProtocol
import SimFS

/// The faults a run injects, compiled from the scenario: crashes the
/// strategy may choose, error injections, and faults triggered right after
/// a matching call.
struct FaultPlan {
    struct Injection {
        var actor: Int
        var operation: FSOperation
        var path: String?
        var error: FSError.Kind
        var remaining: Int
    }

    struct Trigger {
        var pattern: CallPattern
        var actor: Int?
        var fault: Choice
        var remaining: Int
    }

    private(set) var crashesLeft: [Int: Int] = [:]
    private(set) var hostCrashesLeft = 0
    private var injections: [Injection] = []
    private var triggers: [Trigger] = []
    /// Triggered faults, to apply before the next step.
    var pending: [Choice] = []

    /// No fault at all.
    init() {}

    init(_ compiled: CompiledScenario, actors: ActorTable) {
        for fault in compiled.faults {
            let actor = actors.index(named: fault.actor)
            switch fault.kind {
            case .crash:
                guard let actor else { continue }
                if let after = fault.after {
                    triggers.append(Trigger(pattern: after, actor: actor, fault: .crash(actor), remaining: 1))
                } else {
                    crashesLeft[actor, default: 0] += 1
                }
            case .hostCrash:
                if let after = fault.after {
                    triggers.append(
                        Trigger(pattern: after, actor: actors.index(named: after.actor), fault: .crashHost, remaining: 1))
                } else {
                    hostCrashesLeft += 1
                }
            case .error:
                guard let actor, let name = fault.error, let kind = compiled.errorKind(name),
                    let operation = fault.operation.flatMap(FSOperation.init(rawValue:))
                else { continue }
                injections.append(
                    Injection(actor: actor, operation: operation, path: fault.path, error: kind, remaining: fault.count ?? 1))
            }
        }
    }

    /// Whether faults match paths, which needs the calls' subjects.
    var matchesPaths: Bool { injections.contains { $0.path != nil } || triggers.contains { $0.pattern.path != nil } }

    /// The fault choices open beside running the runnable actors.
    func options(for runnable: [Int], into options: inout [Choice]) {
        if !crashesLeft.isEmpty {
            for actor in runnable where crashesLeft[actor, default: 0] > 0 { options.append(.crash(actor)) }
        }
        if hostCrashesLeft > 0 { options.append(.crashHost) }
    }

    /// Counts a fault the strategy chose.
    mutating func consume(_ choice: Choice) {
        switch choice {
        case .crash(let actor): crashesLeft[actor, default: 1] -= 1
        case .crashHost: hostCrashesLeft = max(0, hostCrashesLeft - 1)
        case .run: break
        }
    }

    /// The error to inject into a call of `actor`, if one is due.
    mutating func injection(for call: SimulatedCall, by actor: Int) -> FSError.Kind? {
        for position in injections.indices {
            let injection = injections[position]
            guard injection.actor == actor, injection.remaining > 0, injection.operation == call.operation,
                injection.path.map({ call.subject.containsBytes($0) }) ?? true
            else { continue }
            injections[position].remaining -= 1
            return injection.error
        }
        return nil
    }

    /// Notes a call that ran: a trigger it matches makes its fault pending.
    mutating func noteCall(_ call: SimulatedCall, by actor: Int?, actors: ActorTable) {
        for position in triggers.indices where triggers[position].remaining > 0 {
            let trigger = triggers[position]
            if let wanted = trigger.pattern.actor.flatMap({ actors.index(named: $0) }) ?? trigger.actor, wanted != actor {
                continue
            }
            if let operation = trigger.pattern.operation, operation != call.operation.rawValue { continue }
            if let path = trigger.pattern.path, !call.subject.containsBytes(path) { continue }
            triggers[position].pattern.count = (trigger.pattern.count ?? 1) - 1
            if (triggers[position].pattern.count ?? 0) > 0 { continue }
            triggers[position].remaining = 0
            pending.append(trigger.fault)
        }
    }
}
