import FSProtocol

/// One protocol call a simulated process is about to make.
public struct SimulatedCall: Sendable, Hashable, CustomStringConvertible {
    public var pid: Int32
    public var operation: FSOperation
    /// What the call is about, as paths, for traces.
    public var subject: String

    public init(pid: Int32, operation: FSOperation, subject: String) {
        self.pid = pid
        self.operation = operation
        self.subject = subject
    }

    public var description: String { subject.isEmpty ? "\(operation.rawValue)" : "\(operation.rawValue) \(subject)" }
}

/// What the gate lets a call do.
public enum GateDecision: Sendable, Hashable {
    /// Carry the call out.
    case proceed
    /// Fail the call with this error without carrying it out (an injected
    /// fault).
    case fail(FSError.Kind)
}

/// The hook a scheduler installs on a host: every call of every process
/// waits here until the scheduler lets it run, which makes each call one
/// atomic step. Without a gate no call ever suspends.
public protocol SimulationGate: AnyObject, Sendable {
    /// Suspends the calling process until the scheduler gives it its next
    /// step. False when the process was killed while it waited.
    func waitForTurn(of pid: Int32) async -> Bool

    /// Decides, right before the step runs, whether it runs or fails with
    /// an injected fault. Called with the host locked: it must not call
    /// back into the host.
    func decide(_ call: SimulatedCall) -> GateDecision

    /// Whether `decide` needs the calls' subjects (their paths), which cost
    /// a path walk per call.
    var wantsSubjects: Bool { get }
}

extension SimulationGate {
    public var wantsSubjects: Bool { true }
}

/// What a call changed, for the invariant checkers.
public enum SimulatedEffect: Sendable, Hashable {
    case createdSubvolume(SubvolumeRecord, sourceID: SubvolumeID?)
    case deletedSubvolume(SubvolumeRecord)
    case setReadOnly(SubvolumeRecord, readOnly: Bool)
    case renamed(from: String, to: String, kind: EntryKind, subvolume: SubvolumeRecord?)
    case created(path: String, kind: EntryKind)
    case removed(path: String, kind: EntryKind)
    case committed(filesystem: Int)
}

/// A subvolume named in an effect: where it was, and which it was.
public struct SubvolumeRecord: Sendable, Hashable, CustomStringConvertible {
    public var filesystem: Int
    public var id: SubvolumeID
    /// Its absolute path when the effect happened.
    public var path: String

    public init(filesystem: Int, id: SubvolumeID, path: String) {
        self.filesystem = filesystem
        self.id = id
        self.path = path
    }

    public var description: String { "\(path) (subvolume \(id))" }
}

/// A call after it ran: its outcome and effects.
public struct SimulatedEvent: Sendable, Hashable {
    public var call: SimulatedCall
    /// The error the call threw, if it failed.
    public var error: FSError?
    /// True when the gate failed the call (an injected fault).
    public var wasInjected: Bool
    public var effects: [SimulatedEffect]
    /// What a call that succeeded answered, when it matters for a trace
    /// (a lock taken or busy).
    public var answer: String? = nil
}

/// Sees every call after it ran, in order; the invariant checkers and the
/// trace recorder listen here.
public protocol SimulationObserver: AnyObject, Sendable {
    func didPerform(_ event: SimulatedEvent)

    /// Whether events need the calls' subjects (a trace does; the effects
    /// carry their own paths).
    var wantsSubjects: Bool { get }
}

extension SimulationObserver {
    public var wantsSubjects: Bool { true }
}
