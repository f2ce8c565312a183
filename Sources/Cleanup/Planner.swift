import FSProtocol
import MachineLayout

/// Decides, from a scan alone, what happens to every entry.
///
/// The planner is pure: the same scan and configuration give the same plan.
/// It implements the boot contract: no agent runs, so every working
/// snapshot and lock file is stale.
public struct Planner: Sendable {
    public let toolchains: ToolchainSet

    public init(toolchains: ToolchainSet) {
        self.toolchains = toolchains
    }

    public func plan(_ scan: TreeScan) -> Plan {
        var plan = Plan(root: scan.root, toolchains: toolchains, items: [])
        plan.items.reserveCapacity(scan.entryCount)
        for volume in scan.volumes { planVolume(volume, into: &plan) }
        return plan
    }

    private func planVolume(_ volume: VolumeScan, into plan: inout Plan) {
        let path = EntryPath(volume: volume.name)
        func item(_ action: PlannedAction, _ reason: Reason) {
            plan.items.append(
                PlanItem(
                    path: path, kind: volume.status.kind, identity: volume.status.identity, action: action,
                    reason: reason))
        }
        if !volume.name.isExact { return item(.report, .undecodableName) }
        if volume.name.rawValue.startsWithBytes(".") { return item(.report, .unknownEntry(volume.status.kind)) }
        guard volume.status.kind.isDirectory else { return item(.report, .invalidVolume(volume.status.kind)) }
        switch volume.content {
        case .vanished, .skipped:
            return
        case .unreadable(let error):
            return item(.report, .unreadableVolume(error))
        case .listed(let machines):
            item(.keep, .volume)
            for machine in machines {
                planMachine(machine, in: volume.name, identity: volume.status.identity, into: &plan)
            }
        }
    }

    private func planMachine(
        _ machine: MachineScan, in volume: EntryName, identity volumeIdentity: FileIdentity, into plan: inout Plan
    ) {
        let path = EntryPath(volume: volume, machine: machine.name)
        func item(_ action: PlannedAction, _ reason: Reason) {
            plan.items.append(
                PlanItem(
                    path: path, kind: machine.status.kind, identity: machine.status.identity,
                    container: volumeIdentity, action: action, reason: reason))
        }
        if !machine.name.isExact { return item(.report, .undecodableName) }
        if !MachineNaming.isMachineName(machine.name) { return item(.report, .unknownEntry(machine.status.kind)) }
        guard machine.status.kind.isDirectory else { return item(.report, .invalidMachine(machine.status.kind)) }
        switch machine.content {
        case .vanished, .skipped:
            return
        case .unreadable(let error):
            return item(.report, .unreadableMachine(error))
        case .listed(let directory):
            let machineIdentity = machine.status.identity
            let link = LinkState(directory, machine: machine.name)
            if case .unrecognised(let reason) = link {
                item(.report, reason)
                for entry in directory.entries {
                    plan.items.append(planEntry(entry, of: machine.name, at: path, in: machineIdentity, link: link, directory: directory))
                }
            } else if case .absent = link {
                let first = plan.items.count
                for entry in directory.entries {
                    plan.items.append(planEntry(entry, of: machine.name, at: path, in: machineIdentity, link: link, directory: directory))
                }
                let keeps = plan.items[first...].contains { $0.action == .keep || $0.action == .report }
                keeps ? item(.report, .machineKeepsEntries) : item(.deleteMachineDirectory, .emptiedMachineDirectory)
            } else {
                item(.keep, .machine)
                for entry in directory.entries {
                    plan.items.append(planEntry(entry, of: machine.name, at: path, in: machineIdentity, link: link, directory: directory))
                }
            }
        }
    }

    /// The state of a machine's current link.
    enum LinkState {
        /// No link: the machine is being deleted.
        case absent
        case valid(target: EntryName)
        /// In error: the machine stays, with its revisions and bootstrapped
        /// subvolumes, and with every subvolume the link's target still
        /// names (`./m-2`, `m-2/`, `m-2/disk.img`, an absolute path): in
        /// doubt, it is the image the agents use.
        case broken(Reason, resolvesTo: [EntryName])
        /// No link, but the directory is not that of a machine being
        /// deleted: everything stays.
        case unrecognised(Reason)

        init(_ directory: MachineDirectory, machine: EntryName) {
            switch directory.link {
            case .absent:
                self = LinkState.linkToOwnSubvolume(in: directory, machine: machine).map { .unrecognised($0) } ?? .absent
            case .notSymlink(let kind):
                self = .broken(.linkNotSymlink(kind), resolvesTo: [])
            case .unreadable(let error):
                self = .broken(.unreadableLink(error), resolvesTo: [])
            case .symlink(let target):
                guard let name = EntryName(target) else {
                    self = .broken(
                        .linkOutsideMachine(target: target),
                        resolvesTo: LinkState.subvolumes(namedBy: target, in: directory))
                    return
                }
                guard let entry = directory.entries.first(where: { $0.name == name }) else {
                    self = .broken(.danglingLink(target: target), resolvesTo: [])
                    return
                }
                guard entry.kind == .subvolume else {
                    self = .broken(.linkTargetNotSubvolume(target: target, kind: entry.kind), resolvesTo: [])
                    return
                }
                self = .valid(target: name)
            }
        }

        /// The subvolume entries of the directory a link's target names:
        /// every component (empty, `.` and `..` ones aside) that is the
        /// name of a subvolume of the directory, in the target's order.
        /// `m-2`, `./m-2`, `m-2/`, `../m/m-2`, an absolute path ending in
        /// it, and paths into it (`m-2/disk.img`, `m-2/boot/..`) all name
        /// `m-2`; a path elsewhere that happens to hold such a name does
        /// too: in doubt, the subvolume is the one meant.
        static func subvolumes(namedBy target: String, in directory: MachineDirectory) -> [EntryName] {
            var named: [EntryName] = []
            for component in EntryName.components(of: target) {
                guard let name = EntryName(String(component)), !named.contains(name),
                    directory.entry(named: name)?.kind == .subvolume
                else { continue }
                named.append(name)
            }
            return named
        }

        /// The first symbolic link (in byte order) of a link-less machine
        /// directory that names one of its subvolumes (as
        /// `subvolumes(namedBy:in:)` reads a target), or cannot be read: in
        /// doubt, the machine is kept.
        static func linkToOwnSubvolume(in directory: MachineDirectory, machine: EntryName) -> Reason? {
            if directory.otherLinks.isEmpty { return nil }
            for entry in directory.entries where entry.kind == .symlink {
                // A switch's temporary link is the tool's own, and stale.
                if case .temporaryLink = MachineEntryName(classifying: entry.name, machine: machine) { continue }
                guard let target = directory.otherLinks[entry.name] else { continue }
                guard let target else {
                    return .layoutNotRecognised(link: entry.name.rawValue, target: nil, subvolume: nil)
                }
                guard let name = subvolumes(namedBy: target, in: directory).first else { continue }
                return .layoutNotRecognised(link: entry.name.rawValue, target: target, subvolume: name.rawValue)
            }
            return nil
        }
    }

    private func planEntry(
        _ entry: DirectoryEntry, of machine: EntryName, at machinePath: EntryPath, in container: FileIdentity,
        link: LinkState, directory: MachineDirectory
    ) -> PlanItem {
        let path = EntryPath(volume: machinePath.volume, machine: machine, entry: entry.name)
        func item(_ action: PlannedAction, _ reason: Reason) -> PlanItem {
            PlanItem(
                path: path, kind: entry.kind, identity: entry.status.identity, subvolume: entry.subvolumeID,
                container: container, action: action, reason: reason)
        }
        /// An entry whose name promises a subvolume but which is none.
        func misnamed() -> PlanItem {
            switch entry.kind {
            case .symlink: item(.report, .otherSymlink)
            case .directory: item(.report, .notSubvolume(.directory))
            default: item(.report, .unknownEntry(entry.kind))
            }
        }
        let deleting: Bool
        switch link {
        case .absent:
            deleting = true
        case .valid(let target):
            if entry.name == machine { return item(.keep, .currentLink(target: target.rawValue)) }
            if entry.name == target { return item(.keep, .currentTarget) }
            deleting = false
        case .broken(let reason, let resolved):
            if entry.name == machine { return item(.report, reason) }
            if resolved.contains(entry.name) { return item(.keep, .currentTarget) }
            deleting = false
        case .unrecognised:
            return item(.keep, .inUnrecognisedLayout)
        }
        if !entry.name.isExact { return item(.report, .undecodableName) }
        switch MachineEntryName(classifying: entry.name, machine: machine) {
        case .currentLink:
            return misnamed()
        case .revision:
            guard entry.kind == .subvolume else { return misnamed() }
            if deleting { return item(.deleteSubvolume, .machineWithoutLink) }
            // Writable: an interrupted receive or ownership change, never a
            // valid revision; kept for the command that finishes it.
            if directory.writableRevisions.contains(entry.name) { return item(.report, .incompleteRevision) }
            return item(.keep, .revision)
        case .receivedImage(let digits):
            guard entry.kind == .subvolume else { return misnamed() }
            if deleting { return item(.deleteSubvolume, .machineWithoutLink) }
            let revision = MachineNaming.revision(machine, digits: digits)
            if let revision, directory.entry(named: revision)?.kind == .subvolume { return item(.keep, .receivedImage) }
            return item(.report, .receivedImageWithoutRevision)
        case .temporaryLink:
            guard entry.kind == .symlink else { return item(.report, .unknownEntry(entry.kind)) }
            return item(.removeTemporaryLink, .staleTemporaryLink)
        case .bootstrapped(let toolchain):
            guard entry.kind == .subvolume else { return misnamed() }
            if deleting { return item(.deleteSubvolume, .machineWithoutLink) }
            if toolchains.contains(toolchain) { return item(.keep, .configuredToolchain(toolchain)) }
            if case .broken = link { return item(.keep, .keptForLinkError(toolchain)) }
            return item(.deleteSubvolume, .unconfiguredToolchain(toolchain))
        case .workingSnapshot(let toolchain, _):
            guard entry.kind == .subvolume else { return misnamed() }
            return item(.deleteSubvolume, deleting ? .machineWithoutLink : .staleWorkingSnapshot(toolchain))
        case .lockFile(let toolchain):
            guard entry.kind == .file else { return entry.kind == .symlink ? item(.report, .otherSymlink) : item(.report, .unknownEntry(entry.kind)) }
            return item(.removeLockFile, .staleLockFile(toolchain))
        case .unknown:
            return entry.kind == .symlink ? item(.report, .otherSymlink) : item(.report, .unknownEntry(entry.kind))
        }
    }
}
