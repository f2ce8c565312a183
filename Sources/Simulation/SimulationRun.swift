import BuildFarm
import Cleanup
import FSProtocol
import Logging
import SimFS

/// What one run of a scenario under one schedule came to.
struct RunResult: Sendable {
    var violations: [Violation]
    var steps: Int
    var choices: [Choice]
    var trace: [TraceEntry]
    var actorNames: [String]
    /// The machines root at the end, for end-state and convergence checks.
    var endLayout: Layout
    /// Whether a fault (crash, host crash, injected error) happened.
    var faulted: Bool
    /// A replayed schedule that stopped fitting the run.
    var diverged: Bool

    func traceText(upTo step: Int = .max) -> String {
        trace.filter { $0.step <= step }.map { $0.line(actors: actorNames) }.joined(separator: "\n")
    }
}

/// One run of a scenario: a fresh host from the layout, the actors as
/// tasks on a draining executor, a strategy choosing each step, the
/// invariants checked after every call.
///
/// Everything happens on the thread that calls `execute()`: the actors'
/// jobs run there when the executor is drained, and the gate, observer and
/// journal hooks run inside those jobs. That confinement is why the class
/// can be `@unchecked Sendable`.
final class SimulationRun: SimulationGate, SimulationObserver, ActorJournal, @unchecked Sendable {
    let compiled: CompiledScenario
    let host: SimulatedHost
    let executor = DrainingExecutor()
    var strategy: any SchedulingStrategy
    let faultsEnabled: Bool

    var actors: [ActorSlot] = []
    var actorByPID: [Int32: Int] = [:]
    var time = 0
    var step = 0
    var lastActor: Int?
    var choices: [Choice] = []
    var trace: [TraceEntry] = []
    var violations: [Violation] = []
    var invariants = InvariantState()
    var faulted = false
    var hostCrashed = false
    var diverged = false
    /// Faults still to happen: crashes the strategy may choose, error
    /// injections, and crashes triggered after a matching call.
    var crashesLeft: [Int: Int] = [:]
    var hostCrashesLeft = 0
    var injections: [Injection] = []
    var triggers: [Trigger] = []
    var pendingFaults: [Choice] = []
    var lastCommit = 0

    struct ActorSlot {
        let spec: ActorSpec
        let phase: Int
        var startTime: Int
        var process: SimulatedProcess?
        var gate: UnsafeContinuation<Bool, Never>?
        var sleeper: UnsafeContinuation<Bool, Never>?
        var wakeTime = 0
        var started = false
        var finished = false
        var dead = false
        var report: Report?
    }

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

    init(_ compiled: CompiledScenario, strategy: any SchedulingStrategy, faults: Bool = true) throws {
        self.compiled = compiled
        self.strategy = strategy
        self.faultsEnabled = faults
        host = try SimulatedHost(layout: compiled.layout)
        if host.entryKind(at: "/var/lock") == nil { try host.addTmpfs("/var/lock") }
        for (index, spec) in compiled.actors.enumerated() {
            let phase = index < compiled.firstPhaseCount ? 0 : 1
            actors.append(ActorSlot(spec: spec, phase: phase, startTime: spec.start ?? 0))
        }
        if faults { compileFaults() }
        host.install(gate: self)
        host.install(observer: self)
    }

    func actorIndex(named name: String?) -> Int? {
        guard let name else { return nil }
        return actors.firstIndex { $0.spec.name == name }
    }

    func compileFaults() {
        for fault in compiled.faults {
            let actor = actorIndex(named: fault.actor)
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
                        Trigger(pattern: after, actor: actorIndex(named: after.actor), fault: .crashHost, remaining: 1))
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

    // MARK: The driver

    /// Runs the scenario to its end (or its first violation) and checks
    /// what must hold at the end.
    func execute() -> RunResult {
        startDueActors()
        executor.drain()
        while violations.isEmpty {
            if !pendingFaults.isEmpty {
                apply(pendingFaults.removeFirst())
                executor.drain()
                continue
            }
            let runnable = actors.indices.filter { actors[$0].gate != nil }
            if runnable.isEmpty {
                guard let next = nextEventTime() else { break }
                if next > compiled.timeLimit {
                    let waiting = actors.filter { $0.started && !$0.finished }.map(\.spec.name)
                    violations.append(
                        Violation(
                            invariant: 7,
                            message: "still waiting after \(compiled.timeLimit) s: \(waiting.joined(separator: ", "))",
                            step: step))
                    break
                }
                advance(to: next)
                continue
            }
            if step >= compiled.maxSteps {
                violations.append(
                    Violation(invariant: 0, message: "more than \(compiled.maxSteps) steps: a livelock", step: step))
                break
            }
            var options = runnable.map { Choice.run($0) }
            for actor in runnable where crashesLeft[actor, default: 0] > 0 { options.append(.crash(actor)) }
            if hostCrashesLeft > 0 { options.append(.crashHost) }
            let context = ChoiceContext(step: step, lastActor: lastActor, options: options)
            guard let choice = strategy.choose(context) else {
                diverged = true
                violations.append(Violation(invariant: 0, message: "the schedule no longer fits the run", step: step))
                break
            }
            choices.append(choice)
            apply(choice)
            executor.drain()
            step += 1
        }
        shutDown()
        if violations.isEmpty { checkAtEnd() }
        return RunResult(
            violations: violations, steps: step, choices: choices, trace: trace,
            actorNames: actors.map(\.spec.name), endLayout: host.layout(root: compiled.root), faulted: faulted,
            diverged: diverged)
    }

    func apply(_ choice: Choice) {
        switch choice {
        case .run(let index):
            lastActor = index
            guard let gate = actors[index].gate else { return }
            actors[index].gate = nil
            gate.resume(returning: true)
        case .crash(let index):
            crashesLeft[index, default: 1] -= 1
            faulted = true
            record(actor: index, .crashed)
            kill(index)
        case .crashHost:
            hostCrashesLeft = max(0, hostCrashesLeft - 1)
            faulted = true
            record(actor: nil, .hostCrashed)
            hostCrashed = true
            host.crash()
            for index in actors.indices where actors[index].phase == 0 {
                if actors[index].started { kill(index) } else { actors[index].finished = true }
            }
            for index in actors.indices where actors[index].phase == 1 {
                actors[index].startTime += time
            }
            lastCommit = time
            startDueActors()
        }
    }

    /// Ends an actor's process: its calls fail from now on, its waits end.
    func kill(_ index: Int) {
        actors[index].dead = true
        if let process = actors[index].process { host.kill(process.processID) }
        if let gate = actors[index].gate {
            actors[index].gate = nil
            gate.resume(returning: false)
        }
        if let sleeper = actors[index].sleeper {
            actors[index].sleeper = nil
            sleeper.resume(returning: false)
        }
    }

    /// The next moment something happens without a step: an actor wakes
    /// or starts.
    func nextEventTime() -> Int? {
        var times: [Int] = []
        for actor in actors where !actor.finished {
            if actor.sleeper != nil {
                times.append(actor.wakeTime)
            } else if isDueToStart(actor) {
                times.append(actor.startTime)
            }
        }
        return times.min()
    }

    /// Whether an actor is yet to start in the current phase: the first
    /// phase's actors before a host crash, the second's after.
    func isDueToStart(_ actor: ActorSlot) -> Bool {
        !actor.started && !actor.finished && actor.phase == (hostCrashed ? 1 : 0)
    }

    /// Moves virtual time on: btrfs commits every `commitInterval` seconds;
    /// sleepers due wake and actors due start, in actor order.
    func advance(to next: Int) {
        let interval = compiled.commitInterval
        time = next
        if interval > 0, next / interval > lastCommit / interval {
            host.commitAll()
            record(actor: nil, .committed)
            lastCommit = next
        }
        for index in actors.indices where actors[index].sleeper != nil && actors[index].wakeTime <= time {
            let sleeper = actors[index].sleeper
            actors[index].sleeper = nil
            record(actor: index, .woke)
            sleeper?.resume(returning: true)
        }
        startDueActors()
        executor.drain()
    }

    /// Stops what still runs, so that no task, lock or continuation
    /// outlives the run; a task that does not stop is a leftover.
    func shutDown() {
        for _ in 0..<3 {
            for index in actors.indices where actors[index].started && !actors[index].finished { kill(index) }
            executor.drain()
        }
        let leftovers = actors.filter { $0.started && !$0.finished }.map(\.spec.name)
        if !leftovers.isEmpty || !executor.isIdle {
            violations.append(
                Violation(invariant: 0, message: "leftovers at the end: \(leftovers.joined(separator: ", "))", step: step))
        }
        host.install(gate: nil)
        host.install(observer: nil)
    }

    func record(actor: Int?, _ event: TraceEntry.Event) {
        trace.append(TraceEntry(step: step, time: time, actor: actor, event: event))
    }

    // MARK: The gate

    func waitForTurn(of pid: Int32) async -> Bool {
        guard let index = actorByPID[pid] else { return true }
        if actors[index].dead { return false }
        return await withUnsafeContinuation { actors[index].gate = $0 }
    }

    func decide(_ call: SimulatedCall) -> GateDecision {
        guard let index = actorByPID[call.pid] else { return .proceed }
        for position in injections.indices {
            let injection = injections[position]
            guard injection.actor == index, injection.remaining > 0, injection.operation == call.operation,
                injection.path.map({ call.subject.contains($0) }) ?? true
            else { continue }
            injections[position].remaining -= 1
            faulted = true
            return .fail(injection.error)
        }
        return .proceed
    }

    // MARK: The observer and the journal

    func didPerform(_ event: SimulatedEvent) {
        let index = actorByPID[event.call.pid]
        trace.append(
            TraceEntry(
                step: step, time: time, actor: index,
                event: .call(event.call, error: event.error?.kind, injected: event.wasInjected, answer: event.answer)))
        check(event, by: index)
        for position in triggers.indices where triggers[position].remaining > 0 {
            let trigger = triggers[position]
            if let actor = trigger.pattern.actor.flatMap({ actorIndex(named: $0) }) ?? trigger.actor, actor != index {
                continue
            }
            if let operation = trigger.pattern.operation, operation != event.call.operation.rawValue { continue }
            if let path = trigger.pattern.path, !event.call.subject.contains(path) { continue }
            triggers[position].pattern.count = (trigger.pattern.count ?? 1) - 1
            if (triggers[position].pattern.count ?? 0) > 0 { continue }
            triggers[position].remaining = 0
            pendingFaults.append(trigger.fault)
        }
    }

    func note(_ event: ActorEvent, by pid: Int32) {
        let index = actorByPID[pid]
        record(actor: index, .note(ActorEventText(text: event.description)))
        if case .followedSymlink(let path) = event { invariants.followedLinks[pid] = path }
    }
}
