import Cleanup
import FSProtocol
import MachineLayout
import SimFS
import Simulation

/// One generated case: a machines tree, the toolchain configuration, and
/// what runs on the tree beside the cleanup. Everything in it was drawn
/// from `seed`; the shrinker makes smaller worlds from it.
public struct FuzzWorld: Hashable, Sendable {
    /// The seed the world was drawn from (kept through shrinking, so a
    /// saved case names where it came from).
    public var seed: UInt64
    /// The features the swarm turned on for this world.
    public var features: Set<FuzzFeature>
    public var layout: Layout
    /// The toolchain names as configured, valid or not.
    public var toolchains: [String]
    /// Whether an empty toolchain list was stated explicitly (`--no-toolchains`).
    public var explicitlyNone: Bool
    public var mode: CleanupMode
    /// Calls of the cleanup that fail with an injected error.
    public var faults: [CallFault]
    /// Lock files (paths below the root) another process holds while the
    /// cleanup runs (live mode).
    public var heldLocks: [String]
    /// What another process changes between the cleanup's scan and its
    /// deletions.
    public var races: [Race]
    /// Entries whose names are not UTF-8 (which a layout cannot hold).
    public var undecodable: [UndecodableEntry]
    /// Agents and machine commands running beside the cleanup; with any,
    /// the world runs as a scenario under the simulation's scheduler.
    public var actors: [ActorSpec]
    /// Crashes of those actors or of the host.
    public var crashes: [FaultSpec]

    public init(seed: UInt64, layout: Layout) {
        self.seed = seed
        features = []
        self.layout = layout
        toolchains = ["default"]
        explicitlyNone = false
        mode = .boot
        faults = []
        heldLocks = []
        races = []
        undecodable = []
        actors = []
        crashes = []
    }

    /// Whether the world runs under the scheduler (actors beside the
    /// cleanup) rather than as one cleanup on a quiet host.
    public var isConcurrent: Bool { !actors.isEmpty }

    /// The configured set, or the error the command line would refuse it
    /// with.
    public var toolchainSet: Result<ToolchainSet, ConfigurationError> {
        Result { () throws(ConfigurationError) in
            try ToolchainSet.resolve(names: toolchains, kernelCommandLine: nil, explicitlyNone: explicitlyNone)
        }
    }

    /// How big the world is, for the shrinker: the things it holds first,
    /// then the bytes of its names.
    public var size: Int {
        let things =
            layout.entries.count + undecodable.count + toolchains.count + faults.count + heldLocks.count + races.count
            + actors.count
            + crashes.count + (mode == .live ? 1 : 0)
        let bytes = layout.entries.reduce(0) { $0 + $1.path.utf8.count + ($1.target?.utf8.count ?? 0) }
        return things * 100_000 + bytes
    }
}

/// A call of the cleanup that fails: the `count` first calls of
/// `operation` whose subject holds `path`.
public struct CallFault: Hashable, Sendable {
    public var operation: FSOperation
    /// A part of the call's subject: an absolute path or its end.
    public var path: String
    public var error: FSError.Kind
    public var count: Int

    public init(operation: FSOperation, path: String, error: FSError.Kind, count: Int = 1) {
        self.operation = operation
        self.path = path
        self.error = error
        self.count = count
    }
}

/// An entry whose name is not UTF-8: its directory (below the root, empty
/// for the root itself), its name as the backends render it (`\xNN` for
/// each byte that is not printable ASCII), and its kind; or a symbolic
/// link whose target is not UTF-8 (`nameIsText`: its name is text).
public struct UndecodableEntry: Hashable, Sendable {
    public var directory: String
    public var rendering: String
    public var kind: EntryKind
    /// A link's target, as bytes.
    public var target: [UInt8]?
    /// The name is text; the link's target is not.
    public var nameIsText = false

    public init(in directory: String, _ rendering: String, _ kind: EntryKind, target: [UInt8]? = nil) {
        self.directory = directory
        self.rendering = rendering
        self.kind = kind
        self.target = target
    }

    /// A link named `name` whose target is bytes that are not UTF-8.
    public static func link(in directory: String, _ name: String, targetBytes: [UInt8]) -> UndecodableEntry {
        var entry = UndecodableEntry(in: directory, name, .symlink, target: targetBytes)
        entry.nameIsText = true
        return entry
    }

    /// Builds it on a host, in the directory at `directory` (absolute).
    public func add(to host: SimulatedHost, in directory: String) throws(SetupError) {
        if nameIsText {
            try host.addSymlink(directory + "/" + rendering, targetBytes: target ?? [])
        } else {
            try host.addUndecodable(
                kind, named: rendering, in: directory, target: target.map { String(decoding: $0, as: UTF8.self) } ?? "")
        }
    }

    /// Its path below the root.
    public var path: String { directory.isEmpty ? rendering : directory + "/" + rendering }
}

/// A change another process makes between the cleanup's scan and its
/// deletions: an agent's snapshot appearing in the middle of a delete.
public struct Race: Hashable, Sendable {
    public enum Kind: String, Hashable, Sendable {
        /// The entry goes (a build ends and deletes its snapshot).
        case delete
        /// The subvolume is deleted and a new one made under its name.
        case replace
        /// A new file appears in the directory.
        case add
        /// The machine's link appears in its directory, naming `target`
        /// (an administrator adding the machine by hand makes it last).
        case link
    }

    public var kind: Kind
    /// Below the root: the entry (`delete`, `replace`) or the directory
    /// (`add`, `link`).
    public var path: String
    /// What a `link` names.
    public var target: String?

    public init(_ kind: Kind, _ path: String, target: String? = nil) {
        self.kind = kind
        self.path = path
        self.target = target
    }
}

/// What a world may use; the swarm turns each on or off per world, so
/// that some worlds are dense in one feature and free of the others (a
/// feature that is always on can hide the bugs another one triggers).
public enum FuzzFeature: String, Hashable, Sendable, CaseIterable, Comparable {
    case oddNames = "odd-names"
    case unicodeNames = "unicode-names"
    case longNames = "long-names"
    case laterLayout = "later-layout"
    case dotEntries = "dot-entries"
    case symlinks
    case plainDirectories = "plain-directories"
    case files
    case lockFiles = "lock-files"
    case nestedSubvolumes = "nested-subvolumes"
    case writable
    case received
    case mountPoints = "mount-points"
    case linkProblems = "link-problems"
    case emptyDirectories = "empty-directories"
    case toolchainConfiguration = "toolchain-configuration"
    case deletedMachines = "deleted-machines"
    case temporaryLinks = "temporary-links"
    case faults
    case races
    case undecodableNames = "undecodable-names"
    case liveMode = "live-mode"
    case agents
    case commands
    case crashes
    /// FIFOs, under a lock's name or another.
    case specialFiles = "special-files"

    public static func < (lhs: FuzzFeature, rhs: FuzzFeature) -> Bool { lhs.rawValue < rhs.rawValue }

    /// Features a tree built through the protocol on a real btrfs cannot
    /// have (a mount needs the administrator; the protocol refuses a name
    /// that is not UTF-8 and makes no FIFO, so `Layout.build` cannot make
    /// either) or that the
    /// differential mode leaves out (faults, races, held locks, live mode
    /// and actors are the simulation's: a real run cannot fail a chosen
    /// call or stop between two).
    public static let simulationOnly: Set<FuzzFeature> = [
        .mountPoints, .faults, .races, .undecodableNames, .liveMode, .agents, .commands, .crashes, .specialFiles,
    ]

    /// The features that draw what surrounds a tree rather than the tree
    /// itself: those of worlds around a given tree (`fuzz --layout`).
    public static let aroundTheTree: Set<FuzzFeature> = [
        .toolchainConfiguration, .faults, .races, .undecodableNames, .liveMode, .agents, .commands, .crashes,
    ]
}
