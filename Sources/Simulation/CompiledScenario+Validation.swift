import BuildFarm
import Cleanup
import FSProtocol
import MachineLayout

/// The domains of a scenario's numbers: wide enough for any real
/// scenario, narrow enough that no run overflows virtual time or runs
/// for ever on one setting.
public enum ScenarioLimits {
    public static let schedules = 1...1_000_000
    public static let preemptionBound = 0...100
    public static let pctDepth = 1...100
    public static let maxSteps = 1...1_000_000
    /// Virtual seconds: about 31 years. Every start, duration and sleep
    /// is at most this, so virtual time stays far from `Int.max`.
    public static let seconds = 0...1_000_000_000
    public static let timeLimit = 1...1_000_000_000
    public static let pollSeconds = 1...1_000_000_000
    public static let builds = 0...1_000_000
    public static let revision = 1...999_999_999
    public static let count = 1...1_000_000
}

/// What a scenario's values mean: each checked, with the line of the key
/// at fault.
extension CompiledScenario {
    func validate() throws(ScenarioError) {
        if scenario.name.isEmpty { throw fail("name is empty", at: "name") }
        if scenario.actors.isEmpty { throw fail("actors: a scenario needs at least one actor", at: "actors") }
        try check(scenario.schedules, ScenarioLimits.schedules, "schedules")
        try check(scenario.preemptionBound, ScenarioLimits.preemptionBound, "preemption-bound")
        try check(scenario.pctDepth, ScenarioLimits.pctDepth, "pct-depth")
        try check(scenario.maxSteps, ScenarioLimits.maxSteps, "max-steps")
        try check(scenario.timeLimit, ScenarioLimits.timeLimit, "time-limit")
        try check(scenario.commitInterval, ScenarioLimits.seconds, "commit-interval")
        let paths =
            scenario.actors.indices.map { "actors[\($0)]" }
            + (scenario.afterHostCrash ?? []).indices.map { "after-host-crash[\($0)]" }
        var names: Set<String> = []
        for (actor, path) in zip(actors, paths) {
            if actor.name.isEmpty { throw fail("an actor's name is empty", at: path + ".name") }
            guard names.insert(actor.name).inserted else {
                throw fail("actor \(actor.name) is named twice", at: path + ".name")
            }
            try validate(actor, at: path)
        }
        for (index, fault) in faults.enumerated() {
            try validate(fault, at: "faults[\(index)]", names: names)
        }
        try validateExpectation()
        try validateSchedule()
    }

    func check(_ value: Int?, _ range: ClosedRange<Int>, _ path: String) throws(ScenarioError) {
        guard let value, !range.contains(value) else { return }
        throw fail("\(path) must be \(range.lowerBound) to \(range.upperBound), not \(value)", at: path)
    }

    func validate(_ actor: ActorSpec, at path: String) throws(ScenarioError) {
        try check(actor.start, ScenarioLimits.seconds, path + ".start")
        if let user = actor.user, user == UInt32.max {
            throw fail("user 4294967295 is reserved (no user)", at: path + ".user")
        }
        switch actor.kind {
        case .cleanup, .originalCleanup: break
        case .agent:
            guard let name = actor.toolchain, let toolchain = Toolchain(rawValue: name) else {
                let problem = actor.toolchain.flatMap { Toolchain.problem(with: $0) }.map { ": \($0)" } ?? ""
                throw fail("agent \(actor.name) needs a valid toolchain\(problem)", at: path + ".toolchain")
            }
            // Build OS starts agents for the configured toolchains only (a
            // change of configuration reboots the host).
            guard toolchains.contains(toolchain) else {
                throw fail(
                    "agent \(actor.name): toolchain '\(name)' is not one of the scenario's toolchains", at: path + ".toolchain")
            }
            try check(actor.builds, ScenarioLimits.builds, path + ".builds")
            try check(actor.buildSeconds, ScenarioLimits.seconds, path + ".build-seconds")
            try check(actor.bootstrapSeconds, ScenarioLimits.seconds, path + ".bootstrap-seconds")
            try check(actor.pollSeconds, ScenarioLimits.pollSeconds, path + ".poll-seconds")
        case .admin:
            try validateAdministrator(actor, at: path)
        case .command:
            try validateCommand(actor, at: path)
        case .script:
            for (index, step) in (actor.steps ?? []).enumerated() {
                do {
                    _ = try ScriptStep(step)
                } catch {
                    throw fail("actor \(actor.name): \(error.message)", at: "\(path).steps[\(index)]")
                }
            }
        }
    }

    func validateCommand(_ actor: ActorSpec, at path: String) throws(ScenarioError) {
        do throws(AdministrationError) {
            _ = try MachineAddress(parsing: actor.machine ?? "")
        } catch {
            throw fail("command \(actor.name): machine: \(error.message)", at: path + ".machine")
        }
        let keys: [String]
        switch actor.command {
        case "add": keys = ["revision"]
        case "upgrade": keys = ["revision", "from", "remove-old"]
        case "remove": keys = ["timeout"]
        default:
            throw fail("command \(actor.name): command is add, upgrade or remove", at: path + ".command")
        }
        let given: [(String, Bool)] = [
            ("revision", actor.revision != nil), ("from", actor.from != nil), ("remove-old", actor.removeOld != nil),
            ("timeout", actor.timeout != nil),
        ]
        for (key, present) in given where present && !keys.contains(key) {
            throw fail("command \(actor.name): '\(key)' does not apply to \(actor.command ?? "")", at: "\(path).\(key)")
        }
        if actor.command != "remove", actor.revision == nil {
            throw fail("command \(actor.name): \(actor.command ?? "") needs revision", at: path)
        }
        try check(actor.revision, ScenarioLimits.revision, path + ".revision")
        try check(actor.from, ScenarioLimits.revision, path + ".from")
        try check(actor.timeout, ScenarioLimits.seconds, path + ".timeout")
        // An upgrade to its own parent, or an older one, is refused in
        // every run: the scenario would test nothing.
        if let from = actor.from, let revision = actor.revision, from >= revision {
            throw fail(
                "command \(actor.name): from (\(from)) must be below revision (\(revision)): an upgrade goes to a "
                    + "newer revision", at: path + ".from")
        }
    }

    func validateAdministrator(_ actor: ActorSpec, at path: String) throws(ScenarioError) {
        func located<T>(_ key: String, _ body: () throws(ScenarioError) -> T) throws(ScenarioError) -> T {
            do {
                return try body()
            } catch {
                throw fail(error.message, at: "\(path).\(key)")
            }
        }
        _ = try located("machine") { () throws(ScenarioError) in try machine(of: actor) }
        _ = try located("procedure") { () throws(ScenarioError) in try procedure(of: actor) }
        _ = try located("pitfalls") { () throws(ScenarioError) in try pitfalls(of: actor) }
        if let pitfalls = actor.pitfalls, Set(pitfalls).count != pitfalls.count {
            throw fail("admin \(actor.name): a pitfall is listed twice", at: path + ".pitfalls")
        }
        try check(actor.pollSeconds, ScenarioLimits.pollSeconds, path + ".poll-seconds")
        // Each procedure takes its own keys; another's would be ignored.
        let given: [(String, Bool)] = [
            ("revision", actor.revision != nil), ("from", actor.from != nil), ("to", actor.to != nil),
            ("delete-old", actor.deleteOld != nil),
        ]
        let takes: [String] =
            switch actor.procedure {
            case "add": ["revision"]
            case "upgrade": ["from", "to", "delete-old"]
            default: []
            }
        for (key, isGiven) in given where isGiven && !takes.contains(key) {
            throw fail(
                "admin \(actor.name): '\(key)' does not apply to procedure \(actor.procedure ?? "")", at: "\(path).\(key)")
        }
        try check(actor.revision, ScenarioLimits.revision, path + ".revision")
        try check(actor.from, ScenarioLimits.revision, path + ".from")
        try check(actor.to, ScenarioLimits.revision, path + ".to")
        if let from = actor.from, from == actor.to {
            throw fail("admin \(actor.name): an upgrade goes to another revision than \(from)", at: path + ".to")
        }
    }

    func validate(_ fault: FaultSpec, at path: String, names: Set<String>) throws(ScenarioError) {
        switch fault.kind {
        case .crash, .error:
            let what = fault.kind == .crash ? "a crash fault" : "an error fault"
            guard let actor = fault.actor else { throw fail("\(what) needs the name of one of the actors", at: path) }
            guard names.contains(actor) else {
                throw fail("\(what) names actor '\(actor)', which is not one", at: path + ".actor")
            }
        case .hostCrash: break
        }
        if fault.kind == .error {
            guard let name = fault.error, errorKind(name) != nil else {
                throw fail("an error fault needs error: EIO, EBUSY, ENOSPC, ENOTEMPTY, EPERM or EROFS", at: path + ".error")
            }
            guard let operation = fault.operation, FSOperation(rawValue: operation) != nil else {
                let operations = FSOperation.allCases.map(\.rawValue).joined(separator: ", ")
                throw fail("an error fault needs an operation (\(operations))", at: path + ".operation")
            }
            try check(fault.count, ScenarioLimits.count, path + ".count")
        } else if fault.operation != nil || fault.error != nil || fault.path != nil || fault.count != nil {
            throw fail("operation, path, error and count are for error faults; use 'after'", at: path)
        }
        if fault.kind == .hostCrash, fault.actor != nil {
            throw fail("a host crash is nobody's: name the actor in 'after'", at: path + ".actor")
        }
        if let after = fault.after {
            if let operation = after.operation, FSOperation(rawValue: operation) == nil {
                throw fail("unknown operation '\(operation)' in a fault's 'after'", at: path + ".after.operation")
            }
            if let actor = after.actor, !names.contains(actor) {
                throw fail("a fault's 'after' names actor '\(actor)', which is not one", at: path + ".after.actor")
            }
            try check(after.count, ScenarioLimits.count, path + ".after.count")
        }
    }

    func validateExpectation() throws(ScenarioError) {
        let expect = scenario.expect
        if expect.invariants == nil, expect.expectedViolations.isEmpty, expect.endState == nil {
            throw fail("expect needs 'invariants: hold', 'violation: N', 'violations: [N, ...]' or 'end-state'", at: "expect")
        }
        if expect.invariants != nil, !expect.expectedViolations.isEmpty {
            throw fail("expect cannot both hold the invariants and break one", at: "expect")
        }
        if let invariants = expect.invariants, invariants != "hold" {
            throw fail("expect.invariants can only be 'hold'", at: "expect.invariants")
        }
        if expect.violation != nil, expect.violations != nil {
            throw fail("expect takes 'violation' or 'violations', not both", at: "expect.violations")
        }
        if let violations = expect.violations {
            if violations.isEmpty { throw fail("expect.violations is empty", at: "expect.violations") }
            if Set(violations).count != violations.count {
                throw fail("expect.violations lists an invariant twice", at: "expect.violations")
            }
        }
        if expect.expectedViolations.contains(where: { !(1...8).contains($0) }) {
            throw fail(
                "expect.violation names an invariant from 1 to 8",
                at: expect.violation != nil ? "expect.violation" : "expect.violations")
        }
    }

    func validateSchedule() throws(ScenarioError) {
        guard let text = scenario.schedule else {
            if scenario.strategy == .replay {
                throw fail("strategy replay needs a schedule (choices such as 'r0 r1 c1 H')", at: "strategy")
            }
            return
        }
        guard scenario.strategy == .replay else { throw fail("schedule is for strategy: replay", at: "schedule") }
        for word in text.split(whereSeparator: \.isWhitespace) {
            guard let choice = ScheduleText.choice(String(word)) else {
                throw fail("schedule: '\(word)' is not a choice (rN, cN or H)", at: "schedule")
            }
            switch choice {
            case .run(let index), .crash(let index):
                guard actors.indices.contains(index) else {
                    throw fail("schedule: '\(word)' names actor \(index), and there are \(actors.count)", at: "schedule")
                }
            case .crashHost: break
            }
        }
    }
}
