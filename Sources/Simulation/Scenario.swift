import Cleanup
import FSProtocol

/// A scenario: a machines tree, the actors on it, the faults, how to
/// explore the interleavings, and what must come out. Read from a YAML
/// file (see `docs/scenarios.md`).
public struct Scenario: Codable, Hashable, Sendable {
    public var name: String
    /// The real situation the scenario models, in a few sentences.
    public var description: String
    /// The initial tree, in the layout format.
    public var layout: String
    public var toolchains: [String]
    public var actors: [ActorSpec]
    public var faults: [FaultSpec]?
    /// The actors that start when the host comes back from a crash (the
    /// boot cleanup, the agents).
    public var afterHostCrash: [ActorSpec]?
    public var strategy: StrategyName?
    public var schedules: Int?
    public var seed: UInt64?
    public var preemptionBound: Int?
    public var pctDepth: Int?
    /// A run longer than this many steps is a livelock.
    public var maxSteps: Int?
    /// A run whose virtual time passes this many seconds is a livelock.
    public var timeLimit: Int?
    /// Seconds between btrfs's periodic commits (0: none).
    public var commitInterval: Int?
    public var expect: Expectation
    /// A recorded schedule, for `strategy: replay`.
    public var schedule: String?

    enum CodingKeys: String, CodingKey {
        case name, description, layout, toolchains, actors, faults, strategy, schedules, seed, expect, schedule
        case afterHostCrash = "after-host-crash"
        case preemptionBound = "preemption-bound"
        case pctDepth = "pct-depth"
        case maxSteps = "max-steps"
        case timeLimit = "time-limit"
        case commitInterval = "commit-interval"
    }
}

extension Scenario {
    /// A scenario written in code (the fuzzer's saved cases); the other
    /// settings are nil until set.
    public init(name: String, description: String, layout: String, toolchains: [String], actors: [ActorSpec]) {
        self.name = name
        self.description = description
        self.layout = layout
        self.toolchains = toolchains
        self.actors = actors
        expect = Expectation()
    }
}

public enum StrategyName: String, Codable, Hashable, Sendable, CaseIterable {
    case random, pct, exhaustive, replay
}

/// One actor of a scenario.
public struct ActorSpec: Codable, Hashable, Sendable {
    public enum Kind: String, Codable, Hashable, Sendable {
        /// The real cleanup code (`CleanupRun`), as root.
        case cleanup
        /// A model of the original bash cleanup, as root, to show its
        /// flaws.
        case originalCleanup = "original-cleanup"
        /// A bbot agent instance, as the build user.
        case agent
        /// The administrator following the manual, as root.
        case admin
        /// A process running a fixed list of commands (to plant bugs or
        /// stand for other tools).
        case script
        /// `buildos-clean machine add|upgrade|remove`: the real commands'
        /// code, as root.
        case command
    }

    public var name: String
    public var kind: Kind
    /// When it starts, in virtual seconds.
    public var start: Int?
    // cleanup
    public var mode: CleanupMode?
    // agent
    public var toolchain: String?
    public var builds: Int?
    public var buildSeconds: Int?
    public var bootstrapSeconds: Int?
    public var shellSnapshots: Bool?
    public var pollSeconds: Int?
    // admin
    public var procedure: String?
    /// `volume/machine`.
    public var machine: String?
    public var revision: Int?
    public var from: Int?
    public var to: Int?
    public var deleteOld: Bool?
    public var pitfalls: [String]?
    // script
    public var steps: [String]?
    // command
    /// `add`, `upgrade` or `remove`; `machine`, `revision` (the stream's
    /// `<m>-<N>`) and `from` (the parent of an incremental stream) too.
    public var command: String?
    public var removeOld: Bool?
    /// `remove`: how long it waits for builds, in virtual seconds.
    public var timeout: Int?
    /// The user the process runs as (default: root, or 1000 for agents).
    public var user: UInt32?

    enum CodingKeys: String, CodingKey {
        case name, kind, start, mode, toolchain, builds, procedure, machine, revision, from, to, pitfalls, steps, user
        case command, timeout
        case removeOld = "remove-old"
        case buildSeconds = "build-seconds"
        case bootstrapSeconds = "bootstrap-seconds"
        case shellSnapshots = "shell-snapshots"
        case pollSeconds = "poll-seconds"
        case deleteOld = "delete-old"
    }

    public init(name: String, kind: Kind) {
        self.name = name
        self.kind = kind
    }
}

/// A fault the run injects.
public struct FaultSpec: Codable, Hashable, Sendable {
    public enum Kind: String, Codable, Hashable, Sendable {
        /// An actor's process crashes: its snapshots and lock files stay.
        case crash
        /// The host crashes: every process dies, what no transaction
        /// committed is lost, process ids start over.
        case hostCrash = "host-crash"
        /// A call fails with an error.
        case error
    }

    public var kind: Kind
    /// The actor it concerns (crash, error; host-crash with `after`).
    public var actor: String?
    /// Right after the first call that matches; without it the strategy
    /// chooses the moment (crash, host-crash).
    public var after: CallPattern?
    // error
    public var operation: String?
    /// A substring of the call's subject (its paths).
    public var path: String?
    public var error: String?
    /// How many matching calls fail (error), or which match triggers
    /// (`after`).
    public var count: Int?

    public init(kind: Kind) { self.kind = kind }
}

/// Which calls a fault matches.
public struct CallPattern: Codable, Hashable, Sendable {
    public var actor: String?
    public var operation: String?
    public var path: String?
    /// The how-manieth match counts (from 1).
    public var count: Int?
}

/// What a scenario must come to.
public struct Expectation: Codable, Hashable, Sendable {
    /// `hold`: no schedule breaks an invariant.
    public var invariants: String?
    /// The one invariant (1-8) some schedule must break, and no other.
    public var violation: Int?
    /// Several invariants, each of which some schedule must break, and no
    /// other.
    public var violations: [Int]?
    /// The machines root every run must end with, in the layout format.
    public var endState: String?
    /// Every run with a fault must end as the run without faults.
    public var converges: Bool?

    enum CodingKeys: String, CodingKey {
        case invariants, violation, violations, converges
        case endState = "end-state"
    }

    public init() {}

    /// The invariants some schedule must break (empty: none may).
    public var expectedViolations: [Int] {
        ((violations ?? []) + (violation.map { [$0] } ?? [])).sorted()
    }
}

/// A scenario file that cannot be read or is inconsistent, with the line
/// of the file where that shows when the scenario was read from a file.
public struct ScenarioError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public var line: Int?

    public init(_ message: String, line: Int? = nil) {
        self.message = message
        self.line = line
    }

    public var description: String { line.map { "line \($0): \(message)" } ?? message }
}
