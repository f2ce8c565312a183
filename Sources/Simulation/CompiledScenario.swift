import BuildFarm
import Cleanup
import FSProtocol
import MachineLayout
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

    /// Where the scenario's parts are in its file, for error messages.
    let marks: ScenarioMarks

    public init(_ scenario: Scenario) throws(ScenarioError) {
        try self.init(scenario, marks: ScenarioMarks())
    }

    /// Checks a scenario; errors name the file line `marks` gives.
    public init(_ scenario: Scenario, marks: ScenarioMarks) throws(ScenarioError) {
        self.scenario = scenario
        self.marks = marks
        layout = try CompiledScenario.layout(scenario.layout, block: "layout", marks: marks)
        var toolchains: [Toolchain] = []
        for (index, name) in scenario.toolchains.enumerated() {
            let path = "toolchains[\(index)]"
            guard let toolchain = Toolchain(rawValue: name) else {
                throw ScenarioError("toolchains: \(Toolchain.problem(with: name) ?? name)", line: marks.line(path))
            }
            guard !toolchains.contains(toolchain) else {
                throw ScenarioError("toolchains: '\(name)' is listed twice", line: marks.line(path))
            }
            toolchains.append(toolchain)
        }
        self.toolchains = ToolchainSet(toolchains)
        actors = scenario.actors + (scenario.afterHostCrash ?? [])
        firstPhaseCount = scenario.actors.count
        faults = scenario.faults ?? []
        if let end = scenario.expect.endState {
            var parsed = try CompiledScenario.layout(end, block: "expect.end-state", marks: marks)
            if parsed.root != Layout.defaultRoot, parsed.root != layout.root {
                throw ScenarioError(
                    "expect.end-state: root \(parsed.root) is not the layout's (\(layout.root)); leave it out",
                    line: marks.line(ofBlock: "expect.end-state", line: nil))
            }
            parsed.root = layout.root
            do throws(SetupError) {
                _ = try SimulatedHost(layout: parsed)
            } catch {
                throw ScenarioError(
                    "expect.end-state: \(error.path): \(error.reason)"
                        + marks.textLine(inBlock: "expect.end-state", line: error.line),
                    line: marks.line(ofBlock: "expect.end-state", line: error.line))
            }
            expectedEnd = parsed
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
        if let prototypeError {
            throw ScenarioError(
                "layout: \(prototypeError.path): \(prototypeError.reason)"
                    + marks.textLine(inBlock: "layout", line: prototypeError.line),
                line: marks.line(ofBlock: "layout", line: prototypeError.line))
        }
    }

    /// A layout block of the scenario; errors name the file line.
    static func layout(_ text: String, block: String, marks: ScenarioMarks) throws(ScenarioError) -> Layout {
        do {
            return try Layout.parse(text)
        } catch {
            throw ScenarioError(
                "\(block): \(error.message)" + marks.textLine(inBlock: block, line: error.line),
                line: marks.line(ofBlock: block, line: error.line))
        }
    }

    /// The initial host of a run: the layout's tree and a tmpfs on
    /// `/var/lock` for the agents' locks.
    func initialHost() throws(ScenarioError) -> SimulatedHost {
        guard let prototype else { throw ScenarioError("layout: no host") }
        return prototype
    }

    /// Reads a scenario file's YAML strictly (`ScenarioReader`); errors
    /// name the file's line.
    public static func load(yaml text: String) throws(ScenarioError) -> CompiledScenario {
        let (scenario, marks) = try ScenarioReader.read(text)
        return try CompiledScenario(scenario, marks: marks)
    }

    /// An error about a part of the scenario, at its line.
    func fail(_ message: String, at path: String) -> ScenarioError {
        ScenarioError(message, line: marks.line(path))
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
        let parts = EntryName.components(of: (actor.machine ?? "")).map(String.init)
        guard parts.count == 2, let volume = EntryName(parts[0]), let machine = EntryName(parts[1]),
            parts.allSatisfy({ $0.utf8.count <= Layout.maximumNameBytes })
        else {
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
