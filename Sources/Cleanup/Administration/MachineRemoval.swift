import FSProtocol
import MachineLayout

/// `machine remove`, the manual's "Remove a Machine", safe beside running
/// builds: the link goes first and is committed (agents then stop taking
/// the machine, and a crash cannot bring it back); the command waits until
/// no working snapshot remains and no agent holds a machine lock; then a
/// live cleanup of that one machine deletes every subvolume (nested ones
/// too, each under its toolchain's lock), the lock files and the
/// directory. Running it again after a crash or a timeout finishes the
/// job; so does a boot cleanup, which deletes a machine without link.
extension Administration {
    public func remove(_ machine: MachineAddress, timeout: Double, dryRun: Bool = false) async -> AdministrationReport {
        await session("remove", machine, dryRun: dryRun) { session throws(AdministrationError) in
            guard let directory = session.machineHandle else {
                throw .usage("no machine \(machine): \(machine.path(in: root)) does not exist", code: "no-such-machine")
            }
            let entries = try await session.entries()
            if let link = entries.first(where: { $0.name == machine.machine }), link.kind != .symlink {
                throw .usage(
                    "\(machine.path(of: machine.machine, in: root)) is not a symbolic link (\(link.kind.phrase)): "
                        + "the machine's layout is not recognised; nothing was removed", code: "link-in-error")
            }
            try await session.checkRemovable(entries)
            if entries.contains(where: { $0.name == machine.machine }) {
                let fileSystem = self.fileSystem
                try await session.step(.removeLink, machine.path(of: machine.machine, in: root)) {
                    () throws(FSError) in try await fileSystem.unlink(machine.machine, in: directory)
                }
                try await session.sync()
            }
            // A build that read the link before it went may still take a
            // lock after the wait: its entries stay, and the command waits
            // again, within the same timeout.
            let clock = self.clock
            let start = await clock.now()
            var round = 0
            while true {
                round += 1
                try await session.waitForBuilds(
                    timeout: max(0, timeout - (await clock.now() - start)), of: timeout, again: round > 1)
                if try await session.cleanMachine(final: round >= AdministrationSession.cleaningRounds) { break }
            }
        }
    }
}

extension AdministrationSession {
    /// Refuses, before the link goes, a machine whose cleanup without its
    /// link would keep something: what the cleanup keeps of a machine
    /// being deleted (an unknown entry, a plain directory, another link, a
    /// lock file that is no file) stops its directory's removal, and a
    /// link naming one of its subvolumes makes the layout one the cleanup
    /// does not recognise, which keeps everything and halts the host at
    /// boot. The plan is the cleanup's own, on the entries as they are,
    /// without the link.
    func checkRemovable(_ entries: [DirectoryEntry]) async throws(AdministrationError) {
        guard let machineHandle, let volumeHandle else { return }
        let name = machine.machine
        var otherLinks: [EntryName: String?] = [:]
        for entry in entries where entry.kind == .symlink && entry.name != name {
            otherLinks[entry.name] = .some(try? await fileSystem.readLink(entry.name, in: machineHandle))
        }
        let directory = MachineDirectory(
            entries: entries.filter { $0.name != name }, link: .absent, otherLinks: otherLinks)
        guard let machineStatus = try? await fileSystem.status(of: machineHandle),
            let volumeStatus = try? await fileSystem.status(of: volumeHandle)
        else { return }
        let scan = TreeScan(
            root: root,
            volumes: [
                VolumeScan(
                    name: machine.volume, status: volumeStatus,
                    content: .listed([MachineScan(name: name, status: machineStatus, content: .listed(directory))]))
            ])
        let plan = Planner(toolchains: .none).plan(scan)
        if let unrecognised = plan.items.first(where: { $0.path.entry == nil && $0.path.machine == name }),
            case .layoutNotRecognised = unrecognised.reason, let diagnostic = unrecognised.diagnostic(root: root)
        {
            throw .usage(
                "without its link, \(machine.path(in: root)) would be a layout the cleanup does not recognise "
                    + "(\(diagnostic.cause ?? diagnostic.message)): correct it first; nothing was removed",
                code: "not-removable")
        }
        let kept = plan.items.filter { $0.path.entry != nil && ($0.action == .keep || $0.action == .report) }
        guard !kept.isEmpty else { return }
        let listed = kept.map { item in
            "\(item.path.entry?.rawValue ?? "") (\(item.reason.diagnostic?.message ?? item.reason.text))"
        }
        throw .usage(
            "\(machine.path(in: root)) holds what removing a machine does not delete: "
                + "\(listed.joined(separator: ", ")); move or delete it first; nothing was removed",
            code: "not-removable")
    }

    /// What keeps the machine busy: the machine locks agents hold, and
    /// the working snapshots of their toolchains. An agent holds its lock
    /// for the whole of a build, so a working snapshot whose toolchain's
    /// lock is free belongs to an agent that is gone: it is stale, and the
    /// cleanup deletes it under that lock rather than wait for it forever.
    func pending() async throws(AdministrationError) -> [String] {
        guard let machineHandle else { return [] }
        let entries = try await entries()
        var held: Set<Toolchain> = []
        for entry in entries where entry.kind == .file {
            guard case .lockFile(let toolchain) = MachineEntryName(classifying: entry.name, machine: machine.machine)
            else { continue }
            let isHeld = try? await fileSystem.withFile(entry.name, in: machineHandle) { file throws(FSError) in
                try await fileSystem.isLockHeld(file)
            }
            if isHeld == true { held.insert(toolchain) }
        }
        var pending: [String] = []
        for entry in entries {
            switch MachineEntryName(classifying: entry.name, machine: machine.machine) {
            case .workingSnapshot(let toolchain, _) where entry.kind == .subvolume && held.contains(toolchain):
                pending.append(entry.name.rawValue)
            case .lockFile(let toolchain) where held.contains(toolchain):
                pending.append(entry.name.rawValue + " (held)")
            default:
                break
            }
        }
        return pending
    }

    /// Waits until nothing is pending, up to `timeout` seconds, what is
    /// left of the command's `total` (which the step shows; `again`:
    /// once more after a build took a lock, a step the report already
    /// has unless it times out).
    mutating func waitForBuilds(timeout: Double, of total: Double, again: Bool = false) async throws(AdministrationError) {
        let path = machine.path(in: root)
        guard !dryRun else {
            report.steps.append(AdministrationStep(.wait, path, detail: "(up to \(Int(total)) s)"))
            return
        }
        let clock = administration.clock
        let start = await clock.now()
        var waiting = try await pending()
        var announced = -1
        while !waiting.isEmpty {
            let elapsed = await clock.now() - start
            if elapsed >= timeout {
                var waited = AdministrationStep(.wait, path, detail: "(up to \(Int(total)) s)", outcome: .failed)
                waited.error = "timed out"
                report.steps.append(waited)
                throw AdministrationError(
                    code: "timed-out",
                    "timed out after \(Int(total)) s waiting for \(waiting.joined(separator: ", ")); the link is "
                        + "removed, so no new build starts: run `machine remove` again to finish",
                    status: AdministrationStatus.timedOut)
            }
            if Int(elapsed) != announced {
                announced = Int(elapsed)
                administration.progress("waiting for \(waiting.joined(separator: ", ")): \(announced) s")
            }
            do {
                try await clock.sleep(seconds: min(1, timeout - elapsed))
            } catch {
                throw .failed("stopped while waiting for \(waiting.joined(separator: ", "))")
            }
            waiting = try await pending()
        }
        if !again { report.steps.append(AdministrationStep(.wait, path, outcome: .done)) }
    }

    /// How many times `remove` cleans a machine that builds kept busy
    /// (each time after waiting for them again).
    static let cleaningRounds = 20

    /// Deletes what the machine holds and its directory: the cleanup's own
    /// deletion (identity checks, nested subvolumes, under the agents'
    /// locks), on this machine only. False when a build took a lock
    /// meanwhile and kept its entries (unless `final`): the caller waits
    /// and cleans again.
    mutating func cleanMachine(final: Bool) async throws(AdministrationError) -> Bool {
        let path = machine.path(in: root)
        guard !dryRun else {
            report.steps.append(AdministrationStep(.cleanMachine, path))
            report.steps.append(AdministrationStep(.removeDirectory, path))
            return true
        }
        if let machineHandle { await fileSystem.close(machineHandle) }
        machineHandle = nil
        let cleanup = CleanupRun(
            fileSystem: fileSystem, root: root, toolchains: .none, mode: .live, logger: administration.logger,
            scope: ScanScope(volume: machine.volume, machine: machine.machine))
        let outcome = await cleanup.run().report
        // A sync the cleanup could not make is made again below, once the
        // directory is gone: its line waits for that sync's outcome.
        let unsynced = outcome.diagnostics.filter { $0.level == .error && $0.message == ApplyRun.unsyncedMessage }
        report.notes += outcome.diagnostics.filter { !unsynced.contains($0) }.map(\.line)
        try await openMachineDirectory()
        let gone = machineHandle == nil
        let locked = outcome.decisions.compactMap { decision -> String? in
            guard case .locked = decision.outcome else { return nil }
            return decision.item.path.entry?.rawValue
        }
        // Entries that appeared after the cleanup's scan (a build that
        // read the link before it went, making its lock file or its
        // snapshot) kept the directory: the next round judges them.
        let appeared = outcome.decisions.contains { decision in
            guard decision.item.action == .deleteMachineDirectory, case .changed = decision.outcome else { return false }
            return true
        }
        if !gone, !final, !locked.isEmpty || appeared {
            report.notes += unsynced.map(\.line)
            report.notes.append(
                locked.isEmpty
                    ? "entries appeared in \(path) meanwhile (a build that read the link before it went): waiting again"
                    : "a build took its lock meanwhile, keeping \(locked.joined(separator: ", ")): waiting again")
            return false
        }
        var cleaned = AdministrationStep(.cleanMachine, path, outcome: gone ? .done : .failed)
        if !gone { cleaned.error = "the directory stays" }
        report.steps.append(cleaned)
        guard gone else {
            report.notes += unsynced.map(\.line)
            if !locked.isEmpty {
                throw AdministrationError(
                    code: "locked",
                    "builds kept taking the machine's locks (\(locked.joined(separator: ", "))): the link is removed, "
                        + "so no new build starts: run `machine remove` again to finish",
                    status: AdministrationStatus.failed)
            }
            throw .failed(
                "\(path) keeps entries that are not removed (see the lines above); correct them and run "
                    + "`machine remove` again")
        }
        report.steps.append(AdministrationStep(.removeDirectory, path, outcome: .done))
        guard let volumeHandle else {
            report.notes += unsynced.map(\.line)
            return true
        }
        let fileSystem = self.fileSystem
        let volumePath = EntryPath(volume: machine.volume).rendered(root: root)
        do throws(AdministrationError) {
            try await step(.sync, volumePath) { () throws(FSError) in try await fileSystem.sync(volumeHandle) }
        } catch {
            report.notes += unsynced.map(\.line)
            // The directory is gone: a rerun finds no machine, and would
            // not sync.
            throw .failed(
                "unable to sync the filesystem of \(volumePath): \(report.steps.last?.error ?? "failed"); the machine "
                    + "is removed, but its deletions may not survive a crash until that filesystem is synced "
                    + "(`sync -f \(volumePath)`)")
        }
        // Synced now: what the cleanup could not sync is no error any more.
        report.notes += unsynced.map { unsyncedLine in
            var line = unsyncedLine
            line.level = .warning
            line.cause = (line.cause.map { $0 + "; " } ?? "") + "synced after the directory was removed"
            return line.line
        }
        return true
    }
}

extension FileSystem {
    /// Runs `body` with `name` opened read-only, then closes it.
    public func withFile<Result>(
        _ name: EntryName, in directory: DirectoryHandle, _ body: (FileHandle) async throws(FSError) -> Result
    ) async throws(FSError) -> Result {
        let file = try await openFile(name, in: directory, options: [])
        do {
            let result = try await body(file)
            await close(file)
            return result
        } catch {
            await close(file)
            throw error
        }
    }
}
