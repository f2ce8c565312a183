import FSProtocol
import MachineLayout
import Logging

/// When the cleanup runs: at boot, before any agent (the original's
/// contract), or live, beside running agents.
public enum CleanupMode: String, Hashable, Sendable, Codable, CaseIterable {
    /// No agent runs: every working snapshot and lock file is stale.
    case boot
    /// Agents may run: their entries go only under their machine locks.
    case live
}

/// Carries a plan out through the protocol.
///
/// Every destructive call names its subject by an open directory plus one
/// name and never follows a link. A subvolume is reopened and its identity
/// checked against the scan right before it goes, nested subvolumes are
/// deleted first (deepest first), and the subvolume itself is deleted by
/// id. The read-only property of anything kept is never touched (a
/// read-only subvolume being deleted has its flag cleared only to delete
/// its nested subvolumes, `ApplyRun+Nested.swift`). An entry gone meanwhile is
/// skipped silently. Each volume that lost subvolumes is synced once at the
/// end of its entries.
///
/// In live mode (`CleanupMode.live`) an agent's entries go only while the
/// cleanup holds that agent's machine lock (`MachineLock`): a busy lock
/// keeps them for a later run.
public struct Applier: Sendable {
    public let fileSystem: any FileSystem
    public let mode: CleanupMode
    public let logger: Logger

    public init(
        fileSystem: any FileSystem, mode: CleanupMode = .boot, logger: Logger = Logger(label: "buildos-clean.cleanup")
    ) {
        self.fileSystem = fileSystem
        self.mode = mode
        self.logger = logger
    }

    public func apply(_ plan: Plan) async -> Report {
        var run = ApplyRun(applier: self, plan: plan)
        await run.carryOut()
        return run.report
    }

    /// The report a dry run gives: the plan's decisions and the lines known
    /// without acting.
    public static func dryRun(_ plan: Plan, mode: CleanupMode = .boot) -> Report {
        var report = Report(root: plan.root, toolchains: plan.toolchains, dryRun: true, mode: mode)
        for item in plan.items { report.addUnchecked(item, root: plan.root) }
        return report
    }
}

extension Report {
    /// A plan item as a dry run reports it without looking: kept,
    /// reported with its line, or planned.
    mutating func addUnchecked(_ item: PlanItem, root: String) {
        switch item.action {
        case .keep: add(item, .kept)
        case .report:
            add(item, .reported)
            if let diagnostic = item.diagnostic(root: root) { add(diagnostic) }
        case .deleteSubvolume, .removeLockFile, .removeTemporaryLink, .deleteMachineDirectory: add(item, .planned)
        }
    }
}

extension Applier {
    /// The dry run the command prints: `dryRun(_:mode:)`, and what a
    /// read-only look finds that the plan cannot know and that would
    /// refuse a deletion: something mounted inside a subvolume to delete
    /// (the run's line and outcome, in the item's place). Nothing is
    /// changed and no lock is taken; a look that fails says nothing. In
    /// live mode a deletion first needs its agent's lock, which a dry run
    /// does not take: what the run would meet first is not known, so the
    /// dry run is the plan's alone.
    public func checkedDryRun(_ plan: Plan) async -> Report {
        if mode == .live { return Applier.dryRun(plan, mode: mode) }
        var report = Report(root: plan.root, toolchains: plan.toolchains, dryRun: true, mode: mode)
        var opened: (volume: EntryName, machine: EntryName, handle: DirectoryHandle?)?
        let root = try? await fileSystem.openRoot(plan.root)
        // Machine directories to delete (after their entries) that an
        // entry refused here will keep, as the run's rmdir will say.
        var keptByRefusal: Set<EntryPath> = []
        for item in plan.items {
            if item.action == .deleteMachineDirectory, keptByRefusal.contains(item.path) {
                let error = FSError(.notEmpty, .removeDirectory, name: item.path.machine)
                report.add(item, .failed(error))
                report.add(
                    Diagnostic(
                        path: item.path.rendered(root: plan.root), level: .error,
                        message: "unable to delete machine directory", cause: error.cause))
                continue
            }
            guard item.action == .deleteSubvolume, let root, let machine = item.path.machine, let name = item.path.entry
            else {
                report.addUnchecked(item, root: plan.root)
                continue
            }
            if opened?.volume != item.path.volume || opened?.machine != machine {
                if let handle = opened?.handle { await fileSystem.close(handle) }
                opened = (item.path.volume, machine, await openMachine(item.path.volume, machine, in: root))
            }
            let refusal: (cause: String, mounts: [String])? =
                if let directory = opened?.handle {
                    (try? await fileSystem.withDirectory(name, in: directory) { subvolume throws(FSError) in
                        try await fileSystem.mountRefusal(of: subvolume)
                    }) ?? nil
                } else { nil }
            guard let refusal else {
                report.addUnchecked(item, root: plan.root)
                continue
            }
            report.add(item, .refused(mountPoints: refusal.mounts))
            keptByRefusal.insert(EntryPath(volume: item.path.volume, machine: machine))
            report.add(
                Diagnostic(
                    path: item.path.rendered(root: plan.root), level: .error, message: "unable to delete subvolume",
                    cause: refusal.cause))
        }
        if let handle = opened?.handle { await fileSystem.close(handle) }
        if let root { await fileSystem.close(root) }
        return report
    }

    private func openMachine(_ volume: EntryName, _ machine: EntryName, in root: DirectoryHandle) async
        -> DirectoryHandle?
    {
        guard let volumeHandle = try? await fileSystem.openDirectory(volume, in: root) else { return nil }
        let handle = try? await fileSystem.openDirectory(machine, in: volumeHandle)
        await fileSystem.close(volumeHandle)
        return handle
    }
}

extension PlanItem {
    /// The line a reported item prints.
    func diagnostic(root: String) -> Diagnostic? {
        guard let (level, message, cause) = reason.diagnostic else { return nil }
        return Diagnostic(path: path.rendered(root: root), level: level, message: message, cause: cause)
    }
}
