import FSProtocol

/// How an actor waits: real time on a host, virtual time in a simulation.
public protocol ActorClock: Sendable {
    /// Waits `seconds`. Throws when the actor must stop instead (in a
    /// simulation: its process was killed).
    func sleep(seconds: Int) async throws
}

/// The clock of a real host.
public struct SystemClock: ActorClock {
    public init() {}

    public func sleep(seconds: Int) async throws {
        try await Task.sleep(for: .seconds(seconds))
    }
}

/// What an actor did beyond its calls, for traces and invariant checkers.
public enum ActorEvent: Hashable, Sendable, CustomStringConvertible {
    /// A path-based tool resolved this link and acted on its target.
    case followedSymlink(String)
    /// A virtual machine started in this subvolume (its process holds it).
    case machineStarted(String)
    case machineStopped(String)
    /// A bootstrapped machine was published under this name.
    case published(String)
    /// Anything else worth a line in the trace.
    case note(String)

    public var description: String {
        switch self {
        case .followedSymlink(let path): "followed symbolic link \(path)"
        case .machineStarted(let path): "virtual machine started in \(path)"
        case .machineStopped(let path): "virtual machine stopped in \(path)"
        case .published(let path): "published \(path)"
        case .note(let text): text
        }
    }
}

/// Where an actor writes its events; a simulation records them.
public protocol ActorJournal: Sendable {
    func note(_ event: ActorEvent, by pid: Int32)
}

/// A journal that forgets.
public struct NoJournal: ActorJournal {
    public init() {}
    public func note(_ event: ActorEvent, by pid: Int32) {}
}

/// What an actor acts with: its process's filesystem, its clock, its
/// journal, and where the tree is.
public struct ActorEnvironment: Sendable {
    public var fileSystem: any FileSystem
    public var clock: any ActorClock
    public var journal: any ActorJournal
    /// The machines root (`/build/machines`).
    public var machinesRoot: String
    /// Where agents keep their per-toolchain locks (`/var/lock`).
    public var lockDirectory: String

    public init(
        fileSystem: any FileSystem, clock: any ActorClock = SystemClock(), journal: any ActorJournal = NoJournal(),
        machinesRoot: String = "/build/machines", lockDirectory: String = "/var/lock"
    ) {
        self.fileSystem = fileSystem
        self.clock = clock
        self.journal = journal
        self.machinesRoot = machinesRoot
        self.lockDirectory = lockDirectory
    }

    func note(_ event: ActorEvent) { journal.note(event, by: fileSystem.processID) }
}

/// A machine directory: its volume and name.
public struct MachineRef: Hashable, Sendable, CustomStringConvertible {
    public var volume: EntryName
    public var machine: EntryName

    public init(volume: EntryName, machine: EntryName) {
        self.volume = volume
        self.machine = machine
    }

    public var description: String { "\(volume)/\(machine)" }

    func path(in root: String) -> String { root + "/" + volume.rawValue + "/" + machine.rawValue }
}
