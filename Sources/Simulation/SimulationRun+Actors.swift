import BuildFarm
import Cleanup
import FSProtocol
import MachineLayout
import Logging
import SimFS

/// Starting the actors and running their code.
extension SimulationRun {
    /// Starts every actor whose time has come, in actor order.
    func startDueActors() {
        for index in actors.indices
        where actors.isDueToStart(actors[index], hostCrashed: hostCrashed) && actors[index].startTime <= time {
            start(index)
        }
    }

    func start(_ index: Int) {
        let spec = actors[index].spec
        let user = spec.user ?? (spec.kind == .agent ? 1000 : 0)
        let process = host.spawn(Credentials(user: user, group: user))
        actors[index].process = process
        actors[index].started = true
        actors.tick += 1
        actors[index].startedAt = actors.tick
        actors.assign(process.processID, to: index)
        let role: ProcessRole =
            switch spec.kind {
            case .agent: .agent
            case .cleanup, .originalCleanup: .cleanup
            case .admin, .script, .command: .other
            }
        observe(.started(pid: process.processID, role: role, name: spec.name))
        record(actor: index, .started(pid: process.processID))
        let environment = ActorEnvironment(
            fileSystem: process, clock: SimulatedClock(run: self, actor: index), journal: self,
            machinesRoot: compiled.root, lockDirectory: "/var/lock")
        Task(executorPreference: executor) { [self] in
            await body(of: index, spec: spec, environment: environment)
            finish(index)
        }
    }

    func finish(_ index: Int) {
        actors[index].finished = true
        actors.tick += 1
        actors[index].finishedAt = actors.tick
        record(actor: index, .finished(killed: actors[index].dead))
        let kind = actors[index].spec.kind
        if !actors[index].dead, kind == .cleanup || kind == .originalCleanup { checkAfterCleanup(index) }
    }

    /// The actor's code: the real cleanup, the agent and administrator
    /// models, or a script.
    func body(of index: Int, spec: ActorSpec, environment: ActorEnvironment) async {
        do {
            switch spec.kind {
            case .cleanup:
                let logger = Logger(label: "simulation") { _ in SwiftLogNoOpLogHandler() }
                let run = CleanupRun(
                    fileSystem: environment.fileSystem, root: compiled.root, toolchains: compiled.toolchains,
                    mode: spec.mode ?? .boot, logger: logger)
                actors[index].report = await run.run().report
            case .originalCleanup:
                var report = Report(root: compiled.root, toolchains: compiled.toolchains, dryRun: false)
                for line in await OriginalCleanup(toolchains: compiled.toolchains, environment: environment).run() {
                    report.diagnostics.append(line)
                }
                actors[index].report = report
            case .agent:
                guard let toolchain = spec.toolchain.flatMap(Toolchain.init(rawValue:)) else { return }
                let configuration = BuildAgent.Configuration(
                    toolchain: toolchain, builds: spec.builds ?? 1, buildSeconds: spec.buildSeconds ?? 300,
                    bootstrapSeconds: spec.bootstrapSeconds ?? 600, shellSnapshots: spec.shellSnapshots ?? false,
                    pollSeconds: spec.pollSeconds ?? 30)
                try await BuildAgent(configuration, environment: environment).run()
            case .admin:
                let administrator = Administrator(
                    machine: try compiled.machine(of: spec), procedure: try compiled.procedure(of: spec),
                    pitfalls: try compiled.pitfalls(of: spec), pollSeconds: spec.pollSeconds ?? 10,
                    environment: environment)
                try await administrator.run()
            case .script:
                for text in spec.steps ?? [] { try await ScriptStep(text).run(in: environment) }
            case .command:
                let report = await runCommand(spec, index: index, fileSystem: environment.fileSystem)
                actors[index].commandReport = report
                // How it ended, in the trace: a command refused (a machine
                // misspelt, say) is otherwise only an ENOENT among calls.
                let killed = actors[index].dead
                let outcome = Self.outcome(of: report, spec, killed: killed)
                record(actor: index, .note(ActorEventText(text: outcome)))
                if !killed, report?.error != nil || report == nil { actors[index].failedCommand = outcome }
            }
        } catch {
            // A stop request (the process died) or a failed step: the trace
            // already shows what happened.
        }
    }

    /// A machine command, the production code, with its stream made from
    /// the revision numbers: revision `N` of machine `v/m` always has the
    /// same UUID, so that an incremental stream finds the image an `add`
    /// of the same run received.
    func runCommand(_ spec: ActorSpec, index: Int, fileSystem: any FileSystem) async -> AdministrationReport? {
        guard let machine = try? MachineAddress(parsing: spec.machine ?? "") else { return nil }
        let administration = Administration(
            fileSystem: fileSystem, root: compiled.root, clock: SimulatedClock(run: self, actor: index),
            lockWait: 600, lockDirectory: "/var/lock", logger: Logger(label: "simulation") { _ in SwiftLogNoOpLogHandler() })
        func stream(_ revision: Int, parent: Int?) -> SendStream? {
            guard let name = MachineNaming.revision(machine.machine, digits: String(revision)) else { return nil }
            let header = SendStreamHeader(
                version: 1, name: name, uuid: Self.streamUUID(machine, revision), transactionID: UInt64(revision),
                parent: parent.map { .init(uuid: Self.streamUUID(machine, $0), transactionID: UInt64($0)) })
            return try? SendStream(prefix: SendStream.empty(header))
        }
        let owner = Ownership(user: 1000, group: 1000)
        switch spec.command {
        case "add":
            guard let input = stream(spec.revision ?? 1, parent: nil) else { return nil }
            return await administration.add(machine, stream: input, owner: owner)
        case "upgrade":
            guard let input = stream(spec.revision ?? 1, parent: spec.from) else { return nil }
            return await administration.upgrade(machine, stream: input, owner: owner, removeOld: spec.removeOld ?? false)
        case "remove":
            return await administration.remove(machine, timeout: Double(spec.timeout ?? 3600))
        default:
            return nil
        }
    }

    /// A command actor's outcome as its trace line says it.
    static func outcome(of report: AdministrationReport?, _ spec: ActorSpec, killed: Bool) -> String {
        let command = "machine \(spec.command ?? "?") \(spec.machine ?? "?")"
        // Its calls failed because its process died: that is the story.
        if killed { return "\(command): stopped, its process killed" }
        guard let report else { return "\(command): not run (no stream for that revision)" }
        guard let error = report.error else { return "\(command): \(report.dryRun ? "dry run" : "done")" }
        return "\(command): failed (exit \(error.status), \(error.code)): \(error.message)"
    }

    /// The UUID of revision `revision` of a machine's streams.
    static func streamUUID(_ machine: MachineAddress, _ revision: Int) -> BtrfsUUID {
        BtrfsUUID(high: MachineNaming.stableHash(machine.description), low: UInt64(revision))
    }

    /// An actor's sleep in virtual time; throws when its process dies.
    func sleep(actor index: Int, seconds: Int) async throws {
        if actors[index].dead { throw CancellationError() }
        let until = time + max(0, seconds)
        actors[index].wakeTime = until
        record(actor: index, .sleeping(until: until))
        let woke = await withUnsafeContinuation { actors[index].sleeper = $0 }
        if !woke { throw CancellationError() }
    }
}

/// The clock of a simulated actor.
struct SimulatedClock: ActorClock, WaitingClock {
    let run: SimulationRun
    let actor: Int

    func sleep(seconds: Int) async throws {
        try await run.sleep(actor: actor, seconds: seconds)
    }

    func now() async -> Double { Double(run.time) }

    /// Whole virtual seconds: the simulation's time has no finer grain.
    func sleep(seconds: Double) async throws {
        try await run.sleep(actor: actor, seconds: max(1, Int(seconds.rounded(.up))))
    }
}
