import BuildFarm
import Cleanup
import FSProtocol
import MachineLayout
import SimFS

/// Recording what happens as `RunEvent`s: the facts of the host the
/// invariant checks need, taken when they happen, so that the checker
/// reads nothing else (SPEC §6; `InvariantChecker`).
extension SimulationRun {
    func observe(_ event: RunEvent) {
        checker.observe(event, step: currentStep)
    }

    /// A call as the checker sees it (`InvariantChecker.runEvent`).
    func runEvent(for event: SimulatedEvent) -> RunEvent { checker.runEvent(for: event, on: host) }

    /// A virtual machine starts or stops in a subvolume (from the agents'
    /// journal).
    func noteMachine(_ path: String, running: Bool, by pid: Int32) {
        guard let info = host.subvolumeInfo(at: path), let filesystem = host.filesystemIndex(at: path) else { return }
        observe(.machine(pid: pid, subvolume: SubvolumeKey(filesystem: filesystem, id: info.id), running: running))
    }

    /// Invariant 6, when a boot cleanup finishes.
    func checkAfterCleanup(_ index: Int) {
        guard actors[index].spec.mode ?? .boot == .boot, let report = actors[index].report else { return }
        observe(
            .bootCleanupFinished(
                reported: Set(report.diagnostics.map { ExactText($0.path) }), othersRan: actors.othersRan(beside: index),
                root: host.layout(root: compiled.root)))
    }

    /// What must hold when the run is over: 5 and 7.
    func checkAtEnd() {
        observe(checker.endEvent(on: host, reported: reportedPaths()))
    }

    /// The paths the run's reports named: the last cleanup's lines, and
    /// the machine of each machine command that did not finish cleanly
    /// (a `remove` that kept an entry it does not recognise says so).
    func reportedPaths() -> Set<ExactText> {
        var reported = actors.slots.last { $0.report != nil }?.report.map(CleanupInvariants.reported(by:)) ?? []
        for slot in actors.slots {
            guard let command = slot.commandReport else { continue }
            if command.error != nil || !command.notes.isEmpty || command.steps.contains(where: { $0.outcome == .failed }) {
                reported.insert(ExactText(InvariantChecker.joined(compiled.root, command.machine.description)))
            }
        }
        return reported
    }
}

extension InvariantChecker {
    /// A call as the checker sees it: its effects, with the current link
    /// of a deleted subvolume's machine and whether a renamed bootstrap
    /// had finished, read from `host` right after the call.
    func runEvent(for event: SimulatedEvent, on host: SimulatedHost) -> RunEvent {
        var effects: [RunEffect] = []
        if !event.effects.isEmpty { effects.reserveCapacity(event.effects.count) }
        for effect in event.effects {
            switch effect {
            case .createdSubvolume(let record, _):
                effects.append(.createdSubvolume(SubvolumeKey(record), path: record.path))
            case .deletedSubvolume(let record):
                var linkTarget: String?
                if machineEntry(record.path) != nil {
                    linkTarget = host.linkTarget(at: linkPath(of: record.path))
                }
                effects.append(.deletedSubvolume(SubvolumeKey(record), path: record.path, linkTarget: linkTarget))
            case .renamed(_, let to, let kind, let subvolume):
                var complete = true
                if kind == .subvolume, case .bootstrapped = classify(to) {
                    complete = host.entryKind(at: to + "/" + BuildAgent.bootstrappedMarker.rawValue) == .file
                }
                effects.append(
                    .renamed(to: to, kind: kind, subvolume: subvolume.map(SubvolumeKey.init), complete: complete))
            case .setReadOnly(let record, let readOnly):
                effects.append(.setReadOnly(SubvolumeKey(record), path: record.path, readOnly: readOnly))
            case .created, .removed, .committed:
                break
            }
        }
        return .call(
            pid: event.call.pid, operation: event.call.operation, subject: event.call.subject,
            error: event.error?.kind, injected: event.wasInjected, effects: effects)
    }

    /// The end of a run on `host`: its machines root, the read-only
    /// property now of the subvolumes a cleanup changed, and the paths the
    /// last cleanup reported.
    func endEvent(on host: SimulatedHost, reported: Set<ExactText>, tree: Layout? = nil) -> RunEvent {
        var readOnlyNow: [SubvolumeKey: Bool] = [:]
        for (key, flipped) in flippedByCleanup {
            if let info = host.subvolumeInfo(at: flipped.path), info.id == key.id { readOnlyNow[key] = info.isReadOnly }
        }
        return .end(root: tree ?? host.layout(root: root), readOnlyNow: readOnlyNow, reported: reported)
    }
}
