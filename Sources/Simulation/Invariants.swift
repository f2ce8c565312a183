import BuildFarm
import Cleanup
import FSProtocol
import MachineLayout
import SimFS

/// A subvolume on the host: its filesystem and id.
struct SubvolumeKey: Hashable {
    var filesystem: Int
    var id: SubvolumeID

    init(_ record: SubvolumeRecord) {
        filesystem = record.filesystem
        id = record.id
    }

    init(filesystem: Int, id: SubvolumeID) {
        self.filesystem = filesystem
        self.id = id
    }
}

/// What the invariant checks remember between calls.
struct InvariantState {
    var agents: Set<Int32> = []
    var cleanups: Set<Int32> = []
    /// Subvolumes an agent created and still uses (until it deletes or
    /// publishes them, or dies).
    var owned: [SubvolumeKey: Int32] = [:]
    /// Subvolumes a virtual machine runs in, and the agent running it.
    var running: [SubvolumeKey: Int32] = [:]
    /// Subvolumes whose read-only property a cleanup changed: their path
    /// and the property before the first change.
    var flippedByCleanup: [SubvolumeKey: (path: String, wasReadOnly: Bool)] = [:]
    /// The link a path-based tool of a process just followed.
    var followedLinks: [Int32: String] = [:]
}

extension SimulationRun {
    /// A virtual machine starts or stops in a subvolume (from the agents'
    /// journal).
    func noteMachine(_ path: String, running: Bool, by pid: Int32) {
        guard let info = host.subvolumeInfo(at: path), let filesystem = host.filesystemIndex(at: path) else { return }
        let key = SubvolumeKey(filesystem: filesystem, id: info.id)
        invariants.running[key] = running ? pid : nil
    }
}

extension FSOperation {
    /// Whether the operation removes or alters an entry that exists: where
    /// having followed a link does harm (invariant 3). A switch without a
    /// default, so that a new operation must be placed; and no `Set`: a
    /// `String`-backed enum hashes its raw string, on every step.
    var isDestructive: Bool {
        switch self {
        case .deleteSubvolume, .deleteSubvolumeByID, .unlink, .removeDirectory, .rename, .setReadOnly, .changeOwner:
            true
        case .openRoot, .openDirectory, .close, .list, .status, .readLink, .subvolumeInfo, .subvolumeID,
            .nestedSubvolumes, .createSubvolume, .snapshot, .createSymlink, .makeDirectory, .sync, .mountPoints, .receive,
            .openFile, .write, .read, .lock, .lockStatus:
            false
        }
    }
}

/// SPEC §6, checked on every call (1-5), when a boot cleanup ends (6), and
/// at the end of a run (5, 7); 8 compares runs (`Explorer`).
extension SimulationRun {
    func violate(_ invariant: Int, _ message: String) {
        violations.append(Violation(invariant: invariant, message: message, step: currentStep))
    }

    func name(of pid: Int32) -> String {
        actorByPID[pid].map { "\(actors[$0].spec.name)[\(pid)]" } ?? "pid \(pid)"
    }

    /// The volume, machine and entry of a path exactly three levels below
    /// the machines root.
    func machineEntry(_ path: String) -> (volume: String, machine: String, entry: String)? {
        let root = compiled.root.hasSuffix("/") ? compiled.root : compiled.root + "/"
        guard path.hasPrefix(root) else { return nil }
        let parts = path.dropFirst(root.count).split(separator: "/").map(String.init)
        guard parts.count == 3 else { return nil }
        return (parts[0], parts[1], parts[2])
    }

    func classify(_ path: String) -> MachineEntryName? {
        guard let (_, machine, entry) = machineEntry(path), let machineName = EntryName(machine),
            let entryName = EntryName(entry)
        else { return nil }
        return MachineEntryName(classifying: entryName, machine: machineName)
    }

    func check(_ event: SimulatedEvent, by actor: Int?) {
        let pid = event.call.pid
        if event.call.operation == .close, event.error?.kind == .badDescriptor, !event.wasInjected {
            // On a real host a double close can close another thread's
            // descriptor: a bug of the actor's code, whatever it does next.
            violate(0, "\(name(of: pid)) closed a descriptor that was not open")
        }
        if event.call.operation.isDestructive, event.error == nil,
            let link = invariants.followedLinks.removeValue(forKey: pid)
        {
            violate(3, "\(name(of: pid)) followed the link \(link) into \(event.call)")
        }
        for effect in event.effects {
            switch effect {
            case .createdSubvolume(let record, _):
                if invariants.agents.contains(pid) { invariants.owned[SubvolumeKey(record)] = pid }
                if case .bootstrapped = classify(record.path) {
                    violate(4, "\(record.path) appeared by \(event.call.operation.rawValue), not by a rename")
                }
            case .deletedSubvolume(let record):
                checkDeletion(record, by: pid)
            case .renamed(_, let to, let kind, let subvolume):
                if let subvolume { invariants.owned[SubvolumeKey(subvolume)] = nil }
                if kind == .subvolume, case .bootstrapped = classify(to),
                    host.entryKind(at: to + "/" + BuildAgent.bootstrappedMarker.rawValue) != .file
                {
                    violate(4, "\(name(of: pid)) published \(to) before its bootstrap completed")
                }
            case .setReadOnly(let record, let readOnly):
                let key = SubvolumeKey(record)
                if invariants.cleanups.contains(pid), invariants.flippedByCleanup[key] == nil {
                    // The cleanup only sets the property to change it.
                    invariants.flippedByCleanup[key] = (record.path, !readOnly)
                }
            case .created, .removed, .committed:
                break
            }
        }
    }

    func checkDeletion(_ record: SubvolumeRecord, by pid: Int32) {
        let key = SubvolumeKey(record)
        if let (volume, machine, entry) = machineEntry(record.path) {
            let linkPath = compiled.root + "/" + volume + "/" + machine + "/" + machine
            if host.linkTarget(at: linkPath) == entry {
                violate(1, "\(name(of: pid)) deleted \(record.path), the target of the current link \(linkPath)")
            }
        }
        if let runner = invariants.running[key], runner != pid, host.isAlive(runner) {
            violate(2, "\(name(of: pid)) deleted \(record.path) while the virtual machine of \(name(of: runner)) ran in it")
        } else if let owner = invariants.owned[key], owner != pid, host.isAlive(owner) {
            violate(2, "\(name(of: pid)) deleted \(record.path), which \(name(of: owner)) created and uses")
        }
        invariants.owned[key] = nil
        invariants.running[key] = nil
    }

    /// Invariant 6, when a boot cleanup finishes with no agent running:
    /// each machine directory holds only its link and target, revisions,
    /// bootstrapped machines of configured toolchains, and entries the
    /// cleanup reported.
    func checkAfterCleanup(_ index: Int) {
        guard actors[index].spec.mode ?? .boot == .boot, let report = actors[index].report else { return }
        let agentsRunning = actors.contains { $0.spec.kind == .agent && $0.started && !$0.finished }
        if agentsRunning { return }
        let reported = Set(report.diagnostics.map(\.path))
        let layout = host.layout(root: compiled.root)
        var links: [String: String] = [:]
        for entry in layout.entries where entry.kind == .link { links[entry.path] = entry.target }
        for entry in layout.entries {
            let parts = entry.path.split(separator: "/").map(String.init)
            guard parts.count == 3, let machine = EntryName(parts[1]), let name = EntryName(parts[2]) else { continue }
            let absolute = compiled.root + "/" + entry.path
            if reported.contains(absolute) { continue }
            let linkTarget = links[parts[0] + "/" + parts[1] + "/" + parts[1]]
            let allowed: Bool
            switch MachineEntryName(classifying: name, machine: machine) {
            case .currentLink: allowed = entry.kind == .link
            case .revision: allowed = entry.kind == .subvol && linkTarget != nil
            case .bootstrapped(let toolchain):
                allowed = entry.kind == .subvol && linkTarget != nil && compiled.toolchains.contains(toolchain)
            case .receivedImage(let digits):
                let revision = parts[0] + "/" + parts[1] + "/" + parts[1] + "-" + digits
                allowed = entry.kind == .subvol && linkTarget != nil && layout.entries.contains { $0.path == revision }
            default: allowed = false
            }
            if !allowed, linkTarget != name.rawValue {
                violate(6, "\(absolute) remains after the boot cleanup and was not reported")
            }
        }
    }

    /// What must hold when the run is over: 5 and 7.
    func checkAtEnd() {
        // A cleanup may clear the flag of a subvolume it deletes, and sets
        // it again when that delete fails: what stays must have its flag.
        for (key, flipped) in invariants.flippedByCleanup.sorted(by: { $0.value.path < $1.value.path }) {
            if let info = host.subvolumeInfo(at: flipped.path), info.id == key.id, info.isReadOnly != flipped.wasReadOnly {
                violate(5, "the cleanup changed the read-only property of \(flipped.path), which it kept")
            }
        }
        let layout = host.layout(root: compiled.root)
        let links = Set(layout.entries.filter { $0.kind == .link }.map(\.path))
        for entry in layout.entries where entry.kind == .dir || entry.kind == .subvol {
            let parts = entry.path.split(separator: "/")
            guard parts.count == 2, MachineNaming.isMachineName(EntryName(String(parts[1])) ?? ".") else { continue }
            if !links.contains(entry.path + "/" + parts[1]) {
                violate(7, "\(compiled.root)/\(entry.path) has no current link at the end: a deleted machine stays")
            }
        }
    }
}
