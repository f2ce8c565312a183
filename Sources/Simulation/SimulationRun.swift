import BuildFarm
import Cleanup
import FSProtocol
import MachineLayout
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

/// The actor each process id stands for.
struct ActorIndex {
    private var actors: [Int] = []
    private let base: Int32 = 100

    subscript(pid: Int32) -> Int? {
        get {
            let index = Int(pid - base)
            guard index >= 0, index < actors.count, actors[index] >= 0 else { return nil }
            return actors[index]
        }
        set {
            let index = Int(pid - base)
            guard index >= 0 else { return }
            if index >= actors.count { actors.append(contentsOf: repeatElement(-1, count: index - actors.count + 1)) }
            actors[index] = newValue ?? -1
        }
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
    /// Whether the run keeps a trace. Exploring runs without one and
    /// replays a schedule with one when its trace is wanted.
    let tracing: Bool

    var actors: [ActorSlot] = []
    /// The actor of each live process id (ids are small and dense: an
    /// array, not a hash), as `ActorIndex`.
    var actorByPID = ActorIndex()
    var time = 0
    /// How many steps were chosen; the one in progress is `currentStep`.
    var step = 0
    var currentStep = 0
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
    /// Buffers reused from step to step.
    var options: [Choice] = []
    var runnable: [Int] = []
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
        /// What a machine command reported.
        var commandReport: AdministrationReport?
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

    init(_ compiled: CompiledScenario, strategy: any SchedulingStrategy, faults: Bool = true, tracing: Bool = true)
        throws
    {
        self.compiled = compiled
        self.strategy = strategy
        self.faultsEnabled = faults
        self.tracing = tracing
        host = SimulatedHost(copying: try compiled.initialHost())
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
            guard let choice = choose(among: runnable) else { break }
            apply(choice)
            executor.drain()
        }
        shutDown()
        if violations.isEmpty { checkAtEnd() }
        return RunResult(
            violations: violations, steps: step, choices: choices, trace: trace,
            actorNames: actors.map(\.spec.name), endLayout: host.layout(root: compiled.root), faulted: faulted,
            diverged: diverged)
    }

    /// Asks the strategy for the next step among the runnable actors and
    /// the faults left, and counts it; nil (with a violation) when the run
    /// must stop.
    func choose(among runnable: [Int]) -> Choice? {
        if step >= compiled.maxSteps {
            violations.append(Violation(invariant: 0, message: "more than \(compiled.maxSteps) steps: a livelock", step: step))
            return nil
        }
        options.removeAll(keepingCapacity: true)
        for actor in runnable { options.append(.run(actor)) }
        if !crashesLeft.isEmpty {
            for actor in runnable where crashesLeft[actor, default: 0] > 0 { options.append(.crash(actor)) }
        }
        if hostCrashesLeft > 0 { options.append(.crashHost) }
        let context = ChoiceContext(step: step, lastActor: lastActor, options: options)
        guard let choice = strategy.choose(context) else {
            diverged = true
            violations.append(Violation(invariant: 0, message: "the schedule no longer fits the run", step: step))
            return nil
        }
        choices.append(choice)
        currentStep = step
        step += 1
        if case .run(let actor) = choice { lastActor = actor }
        return choice
    }

    /// The choice an actor arriving at its gate can take itself, without
    /// suspending: when nothing else is pending (no other job queued, no
    /// fault due, no violation), the driver would ask the strategy exactly
    /// now, with exactly these options. Returns nil when the driver must
    /// decide.
    func chooseOnArrival(of index: Int) -> Choice? {
        guard violations.isEmpty, pendingFaults.isEmpty, executor.isIdle else { return nil }
        runnable.removeAll(keepingCapacity: true)
        for actor in actors.indices where actor == index || actors[actor].gate != nil { runnable.append(actor) }
        return choose(among: runnable)
    }

    func apply(_ choice: Choice) {
        switch choice {
        case .run(let index):
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
        if let process = actors[index].process { host.kill(process) }
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

    func record(actor: Int?, _ event: @autoclosure () -> TraceEntry.Event) {
        if tracing { trace.append(TraceEntry(step: currentStep, time: time, actor: actor, event: event())) }
    }

    /// Subjects are needed for a trace, and for faults matching paths.
    var wantsSubjects: Bool {
        tracing || injections.contains { $0.path != nil } || triggers.contains { $0.pattern.path != nil }
    }

    // MARK: The gate

    func waitForTurn(of pid: Int32) async -> Bool {
        guard let index = actorByPID[pid] else { return true }
        if actors[index].dead { return false }
        let choice = chooseOnArrival(of: index)
        if choice == .run(index) { return true }
        return await withUnsafeContinuation { continuation in
            actors[index].gate = continuation
            // Another actor's step, or a fault: taken now that this actor
            // waits like the others.
            if let choice { apply(choice) }
        }
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
        record(
            actor: index, .call(event.call, error: event.error?.kind, injected: event.wasInjected, answer: event.answer))
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
        switch event {
        case .followedSymlink(let path): invariants.followedLinks[pid] = path
        case .machineStarted(let path): noteMachine(path, running: true, by: pid)
        case .machineStopped(let path): noteMachine(path, running: false, by: pid)
        case .published, .note: break
        }
    }
}
