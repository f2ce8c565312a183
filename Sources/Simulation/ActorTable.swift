import Cleanup
import SimFS

/// The actors of a run: their specifications, processes, waits and
/// reports, and which process is which actor.
struct ActorTable {
    struct Slot {
        let spec: ActorSpec
        /// 0: before a host crash; 1: after it.
        let phase: Int
        var startTime: Int
        var process: SimulatedProcess?
        /// Waiting at the gate for its next step.
        var gate: UnsafeContinuation<Bool, Never>?
        /// Asleep until `wakeTime`.
        var sleeper: UnsafeContinuation<Bool, Never>?
        var wakeTime = 0
        var started = false
        var finished = false
        /// When it started and finished, in the order of the run's starts
        /// and finishes (`ActorTable.tick`).
        var startedAt = 0
        var finishedAt = 0
        /// When its process was killed (a crash of it or of the host): it
        /// changes nothing after, though its task finishes later.
        var killedAt: Int?
        var dead = false
        var report: Report?
        /// What a machine command reported.
        var commandReport: AdministrationReport?
        /// How a machine command that failed, was refused or did not run
        /// ended, as its trace line says it (not one killed).
        var failedCommand: String?
    }

    var slots: [Slot] = []
    /// The actor of each live process id (ids are small and dense: an
    /// array, not a hash).
    private var byPID: [Int] = []
    private let base: Int32 = 100

    init(_ compiled: CompiledScenario) {
        for (index, spec) in compiled.actors.enumerated() {
            let phase = index < compiled.firstPhaseCount ? 0 : 1
            slots.append(Slot(spec: spec, phase: phase, startTime: spec.start ?? 0))
        }
    }

    subscript(index: Int) -> Slot {
        get { slots[index] }
        _modify { yield &slots[index] }
    }

    var indices: Range<Int> { slots.indices }

    /// The actor a process id stands for.
    func actor(of pid: Int32) -> Int? {
        let index = Int(pid - base)
        guard index >= 0, index < byPID.count, byPID[index] >= 0 else { return nil }
        return byPID[index]
    }

    mutating func assign(_ pid: Int32, to actor: Int) {
        let index = Int(pid - base)
        guard index >= 0 else { return }
        if index >= byPID.count { byPID.append(contentsOf: repeatElement(-1, count: index - byPID.count + 1)) }
        byPID[index] = actor
    }

    func index(named name: String?) -> Int? {
        guard let name else { return nil }
        return slots.firstIndex { $0.spec.name == name }
    }

    /// How messages name a process.
    func name(of pid: Int32) -> String {
        actor(of: pid).map { "\(slots[$0].spec.name)[\(pid)]" } ?? "pid \(pid)"
    }

    /// Whether an actor is yet to start in the current phase: the first
    /// phase's actors before a host crash, the second's after.
    func isDueToStart(_ slot: Slot, hostCrashed: Bool) -> Bool {
        !slot.started && !slot.finished && slot.phase == (hostCrashed ? 1 : 0)
    }

    /// The next moment something happens without a step: an actor wakes
    /// or starts.
    func nextEventTime(hostCrashed: Bool) -> Int? {
        var times: [Int] = []
        for slot in slots where !slot.finished {
            if slot.sleeper != nil {
                times.append(slot.wakeTime)
            } else if isDueToStart(slot, hostCrashed: hostCrashed) {
                times.append(slot.startTime)
            }
        }
        return times.min()
    }

    /// Counts the run's starts, finishes and deaths, so that each slot
    /// knows which others it overlapped.
    var tick = 0

    /// Whether an actor that changes the tree besides the cleanups (an
    /// agent, an administrator, a script, a machine command) ran while the
    /// cleanup of slot `index` did, even if it finished before: after such
    /// a run the tree is not the boot cleanup's alone.
    func othersRan(beside index: Int) -> Bool {
        let cleanup = slots[index]
        return slots.indices.contains { other in
            let slot = slots[other]
            guard other != index, slot.started, ![.cleanup, .originalCleanup].contains(slot.spec.kind) else { return false }
            let end = slot.killedAt ?? (slot.finished ? slot.finishedAt : nil)
            return slot.startedAt < (cleanup.finished ? cleanup.finishedAt : Int.max)
                && (end.map { $0 > cleanup.startedAt } ?? true)
        }
    }
}
