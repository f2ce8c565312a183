import FSProtocol
import MachineLayout
import Logging

/// One run of the applier: the directories it holds open and what it
/// reported so far.
struct ApplyRun {
    /// The message of a sync that failed after deletions.
    static let unsyncedMessage = "unable to sync filesystem"

    let applier: Applier
    let plan: Plan
    var report: Report
    var fileSystem: any FileSystem { applier.fileSystem }
    var logger: Logger { applier.logger }

    /// An open volume or machine directory, or why it is not open.
    enum Opened {
        case open(DirectoryHandle)
        /// Gone, changed or unreadable: its remaining items are skipped.
        case unavailable(Outcome)
    }

    var rootHandle: DirectoryHandle?
    var rootFailed = false
    /// The identity of each volume as scanned, noted from its item.
    var volumeIdentities: [EntryName: FileIdentity] = [:]
    var volume: (name: EntryName, state: Opened, deletions: Int)?
    var machine: (name: EntryName, state: Opened)?
    /// The current machine directory is on another device than its volume
    /// (another filesystem mounted there, or a subvolume of its own): the
    /// subvolumes deleted in it are synced through it, when it closes.
    var machineElsewhere = false
    var machineDeletions = 0
    /// The machine (or volume) the current items belong to, its items (live
    /// mode looks ahead in them), and the locks held on it.
    var currentMachine: EntryPath?
    var machineItems: ArraySlice<PlanItem> = []
    var locks = LiveLocks()
    /// How many of the current machine's entries this run failed to
    /// delete or refused to (what then keeps its directory).
    var entriesFailed = 0

    init(applier: Applier, plan: Plan) {
        self.applier = applier
        self.plan = plan
        self.report = Report(root: plan.root, toolchains: plan.toolchains, dryRun: false, mode: applier.mode)
    }

    var isLive: Bool { applier.mode == .live }

    func line(_ path: EntryPath, _ level: Diagnostic.Level, _ message: String, _ cause: String? = nil) -> Diagnostic {
        Diagnostic(path: path.rendered(root: plan.root), level: level, message: message, cause: cause)
    }

    mutating func carryOut() async {
        var index = plan.items.startIndex
        while index < plan.items.endIndex {
            let item = plan.items[index]
            if item.path.volume != volume?.name { await finishVolume() }
            let machinePath = EntryPath(volume: item.path.volume, machine: item.path.machine)
            if machinePath != currentMachine {
                await closeMachine()
                currentMachine = machinePath
                entriesFailed = 0
                machineItems = plan.items[index...].prefix {
                    $0.path.volume == machinePath.volume && $0.path.machine == machinePath.machine
                }
            }
            if item.path.machine == nil, item.reason == .volume { volumeIdentities[item.path.volume] = item.identity }
            let decided = report.decisions.count
            await carryOut(item)
            // An entry this run could not delete (its outcome, not a copy
            // of its decision: this runs for every item).
            if item.path.entry != nil, item.action != .keep, item.action != .report, report.decisions.count > decided {
                switch report.decisions[report.decisions.count - 1].outcome {
                case .failed, .refused: entriesFailed += 1
                default: break
                }
            }
            index += 1
        }
        await finishVolume()
        if let rootHandle { await fileSystem.close(rootHandle) }
    }

    mutating func carryOut(_ item: PlanItem) async {
        switch item.action {
        case .keep:
            report.add(item, .kept)
        case .report:
            report.add(item, .reported)
            if let diagnostic = item.diagnostic(root: plan.root) { report.add(diagnostic) }
        case .deleteSubvolume:
            await withMachine(of: item) { run, directory in
                if run.isLive, let toolchain = run.lockMissing(for: item) {
                    run.keepLocked(item, toolchain)
                } else if item.reason == .machineWithoutLink, await run.linkAppeared(item, in: directory) {
                    run.report.add(item, .changed)
                    run.report.add(run.line(item.path, .warning, "changed since scan, kept"))
                } else {
                    await run.deleteSubvolume(item, in: directory)
                }
            }
        case .removeTemporaryLink:
            await withMachine(of: item) { run, directory in await run.removeTemporaryLink(item, in: directory) }
        case .removeLockFile:
            await withMachine(of: item) { run, directory in
                if run.isLive {
                    await run.releaseLockFile(item, in: directory)
                } else {
                    await run.removeLockFile(item, in: directory)
                }
            }
        case .deleteMachineDirectory:
            // Kept while a lock it needs (every lock of the machine) is
            // busy, even when no entry waited for it: a build that took its
            // lock after the scan is in there.
            let keptForLocks = isLive && (locks.keptAny || !locks.busy.isEmpty)
            await closeMachine()
            if keptForLocks {
                report.add(item, .locked(nil))
            } else {
                await deleteMachineDirectory(item)
            }
        }
    }

    // MARK: Opening directories

    mutating func openRoot() async -> DirectoryHandle? {
        if let rootHandle { return rootHandle }
        if rootFailed { return nil }
        do throws(FSError) {
            rootHandle = try await fileSystem.openRoot(plan.root)
            return rootHandle
        } catch {
            rootFailed = true
            report.add(
                Diagnostic(
                    path: EntryPath.displayed(root: plan.root), level: .error, message: "unable to open machines root",
                    cause: error.cause))
            return nil
        }
    }

    /// Opens a directory by name and checks it is the one the scan saw.
    mutating func reopen(_ name: EntryName, in parent: DirectoryHandle, path: EntryPath, expected: FileIdentity?)
        async -> Opened
    {
        let directory: DirectoryHandle
        do throws(FSError) {
            directory = try await fileSystem.openDirectory(name, in: parent)
        } catch {
            switch error.kind {
            case .noEntry: return .unavailable(.vanished)
            case .notDirectory, .symlinkLoop:
                report.add(line(path, .warning, "changed since scan, kept"))
                return .unavailable(.changed)
            default:
                let what = path.machine == nil ? "unable to read volume" : "unable to read machine directory"
                report.add(line(path, .error, what, error.cause))
                return .unavailable(.failed(error))
            }
        }
        if let expected {
            let status = try? await fileSystem.status(of: directory)
            if status?.identity != expected {
                await fileSystem.close(directory)
                report.add(line(path, .warning, "changed since scan, kept"))
                return .unavailable(.changed)
            }
        }
        return .open(directory)
    }

    mutating func volumeHandle(_ name: EntryName) async -> Opened {
        if let volume, volume.name == name { return volume.state }
        guard let root = await openRoot() else {
            let state = Opened.unavailable(.failed(FSError(.badDescriptor, .openRoot, path: plan.root)))
            volume = (name, state, 0)
            return state
        }
        let state = await reopen(name, in: root, path: EntryPath(volume: name), expected: volumeIdentities[name])
        volume = (name, state, 0)
        return state
    }

    mutating func withMachine(
        of item: PlanItem, _ body: (inout ApplyRun, DirectoryHandle) async -> Void
    ) async {
        guard let machineName = item.path.machine else { return }
        if machine?.name != machineName {
            await closeMachine()
            switch await volumeHandle(item.path.volume) {
            case .unavailable(let outcome):
                machine = (machineName, .unavailable(outcome))
            case .open(let volumeDirectory):
                let path = EntryPath(volume: item.path.volume, machine: machineName)
                machine = (
                    machineName, await reopen(machineName, in: volumeDirectory, path: path, expected: item.container)
                )
                if let device = item.container?.device, let volumeDevice = volumeIdentities[item.path.volume]?.device {
                    machineElsewhere = device != volumeDevice
                }
                if isLive, case .open(let directory)? = machine?.state {
                    await takeLocks(for: machineName, in: directory)
                }
            }
        }
        guard let machine else { return }
        switch machine.state {
        case .unavailable(let outcome): report.add(item, outcome == .vanished ? .vanished : outcome)
        case .open(let directory): await body(&self, directory)
        }
    }

    mutating func closeMachine() async {
        if let machine, case .open(let directory) = machine.state {
            await releaseLocks(in: directory)
            if machineDeletions > 0 {
                do throws(FSError) {
                    try await fileSystem.sync(directory)
                } catch {
                    if let volume = self.volume?.name {
                        let path = EntryPath(volume: volume, machine: machine.name)
                        report.add(line(path, .error, ApplyRun.unsyncedMessage, error.cause))
                    }
                }
            }
            await fileSystem.close(directory)
        }
        machine = nil
        machineElsewhere = false
        machineDeletions = 0
        locks = LiveLocks()
    }

    /// Closes the volume, after one sync when it lost subvolumes.
    mutating func finishVolume() async {
        await closeMachine()
        guard let volume else { return }
        self.volume = nil
        guard case .open(let directory) = volume.state else { return }
        if volume.deletions > 0 {
            do throws(FSError) {
                try await fileSystem.sync(directory)
                report.syncedVolumes.append(volume.name)
                logger.debug("synced filesystem", metadata: ["volume": "\(volume.name)"])
            } catch {
                report.add(line(EntryPath(volume: volume.name), .error, ApplyRun.unsyncedMessage, error.cause))
            }
        }
        await fileSystem.close(directory)
    }

    // MARK: Actions

    mutating func deleteSubvolume(_ item: PlanItem, in machineDirectory: DirectoryHandle) async {
        guard let name = item.path.entry else { return }
        let subvolume: DirectoryHandle
        do throws(FSError) {
            subvolume = try await fileSystem.openDirectory(name, in: machineDirectory)
        } catch {
            return failedToOpen(item, error)
        }
        let outcome = await deleteOpenedSubvolume(item, name, subvolume, in: machineDirectory)
        await fileSystem.close(subvolume)
        report.add(item, outcome)
        if case .deleted = outcome {
            countDeletion()
            report.add(line(item.path, .info, "deleted subvolume"))
        }
    }

    /// Whether the link of a machine the scan found without one is there
    /// now (or cannot be told absent): an administrator adding the machine
    /// by hand makes the link last, and its target must not go (invariant
    /// 1). Looked at right before each of its subvolumes goes. (Whatever
    /// is under the link's name now, the scan saw nothing there: an entry
    /// that is no link would make the machine's link one in error, which
    /// keeps everything.)
    func linkAppeared(_ item: PlanItem, in machineDirectory: DirectoryHandle) async -> Bool {
        guard let machine = item.path.machine else { return false }
        do throws(FSError) {
            _ = try await fileSystem.status(of: machine, in: machineDirectory)
            return true
        } catch {
            return error.kind != .noEntry
        }
    }

    /// Counts a subvolume deleted in the open machine directory (nested
    /// ones too, also when their outer subvolume then stays), so that its
    /// filesystem is synced once it is done.
    mutating func countDeletion() {
        if machineElsewhere { machineDeletions += 1 } else { volume?.deletions += 1 }
    }

    mutating func failedToOpen(_ item: PlanItem, _ error: FSError) {
        switch error.kind {
        case .noEntry:
            report.add(item, .vanished)
        case .notDirectory, .symlinkLoop:
            report.add(item, .changed)
            report.add(line(item.path, .warning, "changed since scan, kept"))
        default:
            report.add(item, .failed(error))
            report.add(line(item.path, .error, "unable to delete subvolume", error.cause))
        }
    }

    /// The steps after the subvolume is open: identity, mounts, its id,
    /// then the delete by id, its nested subvolumes first when it holds any
    /// (`ApplyRun+Nested.swift`). Mounts come before the id, as in the dry
    /// run: a subvolume bind-mounted over the entry's name has the identity
    /// the scan read through the mount but another id than the entry
    /// names, and is refused for its mount, as the dry run said, rather
    /// than kept as changed.
    mutating func deleteOpenedSubvolume(
        _ item: PlanItem, _ name: EntryName, _ subvolume: DirectoryHandle, in machineDirectory: DirectoryHandle
    ) async -> Outcome {
        do throws(FSError) {
            let status = try await fileSystem.status(of: subvolume)
            guard status.identity == item.identity, status.kind == .subvolume else {
                report.add(line(item.path, .warning, "changed since scan, kept"))
                return .changed
            }
        } catch {
            return failedCheck(item, error)
        }
        // The subvolume is open: a failure to look for mounts (ENOENT from a
        // missing /proc included) is no sign that it is gone, and keeps it.
        do throws(FSError) {
            if let (cause, mounts) = try await fileSystem.mountRefusal(of: subvolume) {
                report.add(line(item.path, .error, "unable to delete subvolume", cause))
                return .refused(mountPoints: mounts)
            }
        } catch {
            report.add(line(item.path, .error, "unable to delete subvolume", error.cause))
            return .failed(error)
        }
        let id: SubvolumeID
        do throws(FSError) {
            id = try await fileSystem.subvolumeID(of: subvolume)
            if let expected = item.subvolume, id != expected {
                report.add(line(item.path, .warning, "changed since scan, kept"))
                return .changed
            }
        } catch {
            return failedCheck(item, error)
        }
        return await deleteWithNested(id, name, item, subvolume, in: machineDirectory)
    }

    /// A look at an open subvolume before its delete that failed: gone
    /// (ENOENT), or an error that keeps it.
    mutating func failedCheck(_ item: PlanItem, _ error: FSError) -> Outcome {
        if error.kind == .noEntry { return .vanished }
        report.add(line(item.path, .error, "unable to delete subvolume", error.cause))
        return .failed(error)
    }

    mutating func removeLockFile(_ item: PlanItem, in machineDirectory: DirectoryHandle) async {
        await unlink(
            item, in: machineDirectory, expecting: .file, done: "removed stale lock file",
            failure: "unable to remove lock file")
    }

    /// Unlinks a temporary link of a switch that did not finish.
    mutating func removeTemporaryLink(_ item: PlanItem, in machineDirectory: DirectoryHandle) async {
        await unlink(
            item, in: machineDirectory, expecting: .symlink, done: "removed temporary link",
            failure: "unable to remove temporary link")
    }

    /// Unlinks an entry when it is still the one the scan saw (its identity
    /// and kind), with the line for each outcome.
    mutating func unlink(
        _ item: PlanItem, in machineDirectory: DirectoryHandle, expecting kind: EntryKind, done: String, failure: String
    ) async {
        guard let name = item.path.entry else { return }
        do throws(FSError) {
            let status = try await fileSystem.status(of: name, in: machineDirectory)
            guard status.identity == item.identity, status.kind == kind else {
                report.add(item, .changed)
                report.add(line(item.path, .warning, "changed since scan, kept"))
                return
            }
            try await fileSystem.unlink(name, in: machineDirectory)
            report.add(item, .removed)
            report.add(line(item.path, .info, done))
        } catch {
            if error.kind == .noEntry { return report.add(item, .vanished) }
            report.add(item, .failed(error))
            report.add(line(item.path, .error, failure, error.cause))
        }
    }

    mutating func deleteMachineDirectory(_ item: PlanItem) async {
        guard let machineName = item.path.machine else { return }
        guard case .open(let volumeDirectory) = await volumeHandle(item.path.volume) else {
            return report.add(item, .vanished)
        }
        do throws(FSError) {
            let status = try await fileSystem.status(of: machineName, in: volumeDirectory)
            guard status.identity == item.identity else {
                report.add(item, .changed)
                report.add(line(item.path, .warning, "changed since scan, kept"))
                return
            }
            try await fileSystem.removeDirectory(machineName, in: volumeDirectory)
            // A machine directory that is a subvolume of its own: `rmdir`
            // deleted a subvolume, which is synced as any other.
            if status.kind == .subvolume { volume?.deletions += 1 }
            report.add(item, .removed)
            report.add(line(item.path, .info, "deleted machine directory"))
        } catch {
            if error.kind == .noEntry { return report.add(item, .vanished) }
            if error.kind == .notEmpty, entriesFailed == 0 {
                // Something new appeared in it since the scan: a later run
                // decides about that. (Not so when this run failed to
                // delete some of its entries: they keep it, as their lines
                // say, and its own line is the failure the original prints.)
                report.add(item, .changed)
                return report.add(line(item.path, .warning, "changed since scan, kept"))
            }
            report.add(item, .failed(error))
            report.add(line(item.path, .error, "unable to delete machine directory", error.cause))
        }
    }
}
