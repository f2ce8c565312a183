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
    /// The reports of the cleanups that finished, in actor order.
    var cleanupReports: [Report] = []
    /// The machine commands that failed, were refused or did not run
    /// (`ACTOR: machine add v/m: failed (exit 64, code): message`).
    var failedCommands: [String] = []

    func traceText(upTo step: Int = .max) -> String {
        trace.filter { $0.step <= step }.map { $0.line(actors: actorNames) }.joined(separator: "\n")
    }
}

/// One run of a scenario: a fresh host from the layout, the actors as
/// tasks on a draining executor, a strategy choosing each step, the
/// invariants checked after every call.
///
/// The run drives; what it keeps is in parts of their own: the actors
/// (`ActorTable`), the faults to inject (`FaultPlan`), the trace
/// (`RunTrace`), the invariant checks (`InvariantChecker`, which reads
/// only the `RunEvent`s the run records); the run itself is the host's
/// gate and observer and the actors' journal and clock.
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

    var actors: ActorTable
    var faults: FaultPlan
    var runTrace: RunTrace
    var checker: InvariantChecker
    var time = 0
    /// How many steps were chosen; the one in progress is `currentStep`.
    var step = 0
    var currentStep = 0
    var lastActor: Int?
    var choices: [Choice] = []
    /// Violations of the run itself (livelocks, leftovers, a schedule that
    /// no longer fits), beside the checker's.
    var runViolations: [Violation] = []
    var faulted = false
    var hostCrashed = false
    var diverged = false
    /// Buffers reused from step to step.
    var options: [Choice] = []
    var runnable: [Int] = []
    var lastCommit = 0

    var violations: [Violation] { runViolations + checker.violations }
    var hasViolations: Bool { !runViolations.isEmpty || !checker.violations.isEmpty }
    var tracing: Bool { runTrace.isKept }

    init(_ compiled: CompiledScenario, strategy: any SchedulingStrategy, faults: Bool = true, tracing: Bool = true)
        throws
    {
        self.compiled = compiled
        self.strategy = strategy
        runTrace = RunTrace(kept: tracing)
        host = SimulatedHost(copying: try compiled.initialHost())
        actors = ActorTable(compiled)
        self.faults = faults ? FaultPlan(compiled, actors: actors) : FaultPlan()
        checker = InvariantChecker(root: compiled.root, toolchains: compiled.toolchains)
        host.install(gate: self)
        host.install(observer: self)
    }

    // MARK: The driver

    /// Runs the scenario to its end (or its first violation) and checks
    /// what must hold at the end.
    func execute() -> RunResult {
        startDueActors()
        executor.drain()
        while !hasViolations {
            if !faults.pending.isEmpty {
                apply(faults.pending.removeFirst())
                executor.drain()
                continue
            }
            let runnable = actors.indices.filter { actors[$0].gate != nil }
            if runnable.isEmpty {
                guard let next = actors.nextEventTime(hostCrashed: hostCrashed) else { break }
                if next > compiled.timeLimit {
                    let waiting = actors.slots.filter { $0.started && !$0.finished }.map(\.spec.name)
                    runViolations.append(
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
        if !hasViolations { checkAtEnd() }
        return RunResult(
            violations: violations, steps: step, choices: choices, trace: runTrace.entries,
            actorNames: actors.slots.map(\.spec.name), endLayout: host.layout(root: compiled.root), faulted: faulted,
            diverged: diverged, cleanupReports: actors.slots.compactMap(\.report),
            failedCommands: actors.slots.compactMap { slot in slot.failedCommand.map { "\(slot.spec.name): \($0)" } })
    }

    /// Asks the strategy for the next step among the runnable actors and
    /// the faults left, and counts it; nil (with a violation) when the run
    /// must stop.
    func choose(among runnable: [Int]) -> Choice? {
        if step >= compiled.maxSteps {
            runViolations.append(
                Violation(invariant: 0, message: "more than \(compiled.maxSteps) steps: a livelock", step: step))
            return nil
        }
        options.removeAll(keepingCapacity: true)
        for actor in runnable { options.append(.run(actor)) }
        faults.options(for: runnable, into: &options)
        let context = ChoiceContext(step: step, lastActor: lastActor, options: options)
        guard let choice = strategy.choose(context) else {
            diverged = true
            runViolations.append(Violation(invariant: 0, message: "the schedule no longer fits the run", step: step))
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
        guard !hasViolations, faults.pending.isEmpty, executor.isIdle else { return nil }
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
            faults.consume(choice)
            faulted = true
            record(actor: index, .crashed)
            kill(index)
        case .crashHost:
            faults.consume(choice)
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
        if actors[index].killedAt == nil {
            actors.tick += 1
            actors[index].killedAt = actors.tick
        }
        if let process = actors[index].process {
            host.kill(process)
            observe(.died(pid: process.processID))
        }
        if let gate = actors[index].gate {
            actors[index].gate = nil
            gate.resume(returning: false)
        }
        if let sleeper = actors[index].sleeper {
            actors[index].sleeper = nil
            sleeper.resume(returning: false)
        }
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
        let leftovers = actors.slots.filter { $0.started && !$0.finished }.map(\.spec.name)
        if !leftovers.isEmpty || !executor.isIdle {
            runViolations.append(
                Violation(invariant: 0, message: "leftovers at the end: \(leftovers.joined(separator: ", "))", step: step))
        }
        host.install(gate: nil)
        host.install(observer: nil)
    }

    func record(actor: Int?, _ event: @autoclosure () -> TraceEntry.Event) {
        runTrace.record(step: currentStep, time: time, actor: actor, event())
    }

    /// Subjects are needed for a trace, for faults matching paths, and for
    /// the invariant messages that name a call.
    var wantsSubjects: Bool { tracing || faults.matchesPaths }

    // MARK: The gate

    func waitForTurn(of pid: Int32) async -> Bool {
        guard let index = actors.actor(of: pid) else { return true }
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
        guard let index = actors.actor(of: call.pid), let error = faults.injection(for: call, by: index) else {
            return .proceed
        }
        faulted = true
        return .fail(error)
    }

    // MARK: The observer and the journal

    func didPerform(_ event: SimulatedEvent) {
        let index = actors.actor(of: event.call.pid)
        record(
            actor: index, .call(event.call, error: event.error?.kind, injected: event.wasInjected, answer: event.answer))
        if InvariantChecker.concerns(event) { observe(runEvent(for: event)) }
        faults.noteCall(event.call, by: index, actors: actors)
    }

    func note(_ event: ActorEvent, by pid: Int32) {
        let index = actors.actor(of: pid)
        record(actor: index, .note(ActorEventText(text: event.description)))
        switch event {
        case .followedSymlink(let path): observe(.followedLink(pid: pid, path: path))
        case .machineStarted(let path): noteMachine(path, running: true, by: pid)
        case .machineStopped(let path): noteMachine(path, running: false, by: pid)
        case .published, .note: break
        }
    }
}
