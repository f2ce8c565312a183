import BuildFarm
import Cleanup
import FSProtocol
import SimFS
import Yams

/// A scenario checked and turned into what a run needs.
public struct CompiledScenario: Sendable {
    public let scenario: Scenario
    public let layout: Layout
    public let toolchains: ToolchainSet
    /// The actors: the first phase, then those that start after a host
    /// crash.
    let actors: [ActorSpec]
    let firstPhaseCount: Int
    let faults: [FaultSpec]
    let expectedEnd: Layout?
    /// The host every run starts from (copied, never run on itself).
    private let prototype: SimulatedHost?
    private let prototypeError: SetupError?

    public var name: String { scenario.name }
    var root: String { layout.root }
    var maxSteps: Int { scenario.maxSteps ?? 20_000 }
    var timeLimit: Int { scenario.timeLimit ?? 86_400 }
    var commitInterval: Int { scenario.commitInterval ?? 30 }

    public init(_ scenario: Scenario) throws(ScenarioError) {
        self.scenario = scenario
        do {
            layout = try Layout.parse(scenario.layout)
        } catch {
            throw ScenarioError("layout: \(error)")
        }
        var toolchains: [Toolchain] = []
        for name in scenario.toolchains {
            guard let toolchain = Toolchain(rawValue: name) else {
                throw ScenarioError("toolchains: \(Toolchain.problem(with: name) ?? name)")
            }
            toolchains.append(toolchain)
        }
        self.toolchains = ToolchainSet(toolchains)
        actors = scenario.actors + (scenario.afterHostCrash ?? [])
        firstPhaseCount = scenario.actors.count
        faults = scenario.faults ?? []
        if let end = scenario.expect.endState {
            do {
                var parsed = try Layout.parse(end)
                parsed.root = layout.root
                expectedEnd = parsed
            } catch {
                throw ScenarioError("expect.end-state: \(error)")
            }
        } else {
            expectedEnd = nil
        }
        do throws(SetupError) {
            let host = try SimulatedHost(layout: layout)
            if host.entryKind(at: "/var/lock") == nil { try host.addTmpfs("/var/lock") }
            prototype = host
            prototypeError = nil
        } catch {
            prototype = nil
            prototypeError = error
        }
        try validate()
        if let prototypeError { throw ScenarioError("layout: \(prototypeError)") }
    }

    /// The initial host of a run: the layout's tree and a tmpfs on
    /// `/var/lock` for the agents' locks.
    func initialHost() throws(ScenarioError) -> SimulatedHost {
        guard let prototype else { throw ScenarioError("layout: no host") }
        return prototype
    }

    /// Reads a scenario file's YAML.
    public static func load(yaml text: String) throws(ScenarioError) -> CompiledScenario {
        let scenario: Scenario
        do {
            scenario = try YAMLDecoder().decode(Scenario.self, from: text)
        } catch {
            throw ScenarioError("not a scenario: \(error)")
        }
        return try CompiledScenario(scenario)
    }

    private func validate() throws(ScenarioError) {
        var names: Set<String> = []
        for actor in actors {
            guard names.insert(actor.name).inserted else { throw ScenarioError("actor \(actor.name) is named twice") }
            switch actor.kind {
            case .cleanup, .originalCleanup: break
            case .agent:
                guard let name = actor.toolchain, Toolchain(rawValue: name) != nil else {
                    throw ScenarioError("agent \(actor.name) needs a valid toolchain")
                }
            case .admin:
                _ = try machine(of: actor)
                _ = try procedure(of: actor)
                _ = try pitfalls(of: actor)
            case .script:
                for step in actor.steps ?? [] { _ = try ScriptStep(step) }
            }
        }
        for fault in faults {
            switch fault.kind {
            case .crash, .error:
                guard let actor = fault.actor, names.contains(actor) else {
                    throw ScenarioError("a \(fault.kind.rawValue) fault needs the name of one of the actors")
                }
            case .hostCrash: break
            }
            if fault.kind == .error {
                guard let name = fault.error, errorKind(name) != nil else {
                    throw ScenarioError("an error fault needs error: EIO, EBUSY, ENOSPC, ENOTEMPTY, EPERM or EROFS")
                }
                guard let operation = fault.operation, FSOperation(rawValue: operation) != nil else {
                    throw ScenarioError("an error fault needs an operation (\(FSOperation.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
            }
            if let after = fault.after, let operation = after.operation, FSOperation(rawValue: operation) == nil {
                throw ScenarioError("unknown operation '\(operation)' in a fault's 'after'")
            }
        }
        let expect = scenario.expect
        if expect.invariants == nil, expect.expectedViolations.isEmpty, expect.endState == nil {
            throw ScenarioError("expect needs 'invariants: hold', 'violation: N', 'violations: [N, ...]' or 'end-state'")
        }
        if expect.invariants != nil, !expect.expectedViolations.isEmpty {
            throw ScenarioError("expect cannot both hold the invariants and break one")
        }
        if let invariants = scenario.expect.invariants, invariants != "hold" {
            throw ScenarioError("expect.invariants can only be 'hold'")
        }
        if expect.expectedViolations.contains(where: { !(1...8).contains($0) }) {
            throw ScenarioError("expect.violation names an invariant from 1 to 8")
        }
    }

    func errorKind(_ name: String) -> FSError.Kind? {
        switch name {
        case "EIO": .ioError
        case "EBUSY": .busy
        case "ENOSPC": .noSpace
        case "ENOTEMPTY": .notEmpty
        case "EPERM": .notPermitted
        case "EROFS": .readOnly
        default: nil
        }
    }

    func machine(of actor: ActorSpec) throws(ScenarioError) -> MachineRef {
        let parts = (actor.machine ?? "").split(separator: "/").map(String.init)
        guard parts.count == 2, let volume = EntryName(parts[0]), let machine = EntryName(parts[1]) else {
            throw ScenarioError("admin \(actor.name) needs machine: VOLUME/MACHINE")
        }
        return MachineRef(volume: volume, machine: machine)
    }

    func procedure(of actor: ActorSpec) throws(ScenarioError) -> Administrator.Procedure {
        switch actor.procedure {
        case "add":
            guard let revision = actor.revision else { throw ScenarioError("admin \(actor.name): add needs revision") }
            return .add(revision: revision)
        case "upgrade":
            guard let from = actor.from, let to = actor.to else {
                throw ScenarioError("admin \(actor.name): upgrade needs from and to")
            }
            return .upgrade(from: from, to: to, deleteOld: actor.deleteOld ?? false)
        case "delete":
            return .delete
        default:
            throw ScenarioError("admin \(actor.name): procedure is add, upgrade or delete")
        }
    }

    func pitfalls(of actor: ActorSpec) throws(ScenarioError) -> Administrator.Pitfalls {
        var pitfalls: Administrator.Pitfalls = []
        for name in actor.pitfalls ?? [] {
            switch name {
            case "mv-without-t": pitfalls.insert(.mvWithoutT)
            case "leftover-temporary-link": pitfalls.insert(.leftoverTemporaryLink)
            default: throw ScenarioError("admin \(actor.name): unknown pitfall '\(name)'")
            }
        }
        return pitfalls
    }
}
