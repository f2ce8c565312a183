import FSProtocol
import Logging

/// Who a machine's revisions belong to: the build user, whose agents
/// snapshot them.
public struct Ownership: Hashable, Sendable, CustomStringConvertible {
    public var user: UInt32
    public var group: UInt32

    public init(user: UInt32, group: UInt32) {
        self.user = user
        self.group = group
    }

    public var description: String { "\(user):\(group)" }
}

/// The administrator's procedures of the Build OS manual (add, upgrade,
/// remove a machine) as commands that cannot go wrong, on any backend.
///
/// Each takes buildos-clean's own lock (`ToolLock`; a dry run does not),
/// checks everything it can before touching anything, and carries out its
/// steps in an order that a crash at any point, followed by the same
/// command again or by a boot cleanup, brings to a state the cleanup
/// recognises (docs/administration.md).
public struct Administration: Sendable {
    public let fileSystem: any FileSystem
    /// The machines root, absolute.
    public let root: String
    public let clock: any WaitingClock
    /// How long to wait for another run's lock, in seconds.
    public let lockWait: Double
    /// Where buildos-clean's lock lives (`/run/lock`); nil for a tree no
    /// other process sees (a simulated one loaded from a layout).
    public let lockDirectory: String?
    public let logger: Logger
    /// Hears a line now and then while the command waits.
    public let progress: @Sendable (String) -> Void

    public init(
        fileSystem: any FileSystem, root: String, clock: any WaitingClock = HostClock(), lockWait: Double = 0,
        lockDirectory: String? = ToolLock.directory, logger: Logger = Logger(label: "buildos-clean.machine"), progress: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.fileSystem = fileSystem
        self.root = root
        self.clock = clock
        self.lockWait = lockWait
        self.lockDirectory = lockDirectory
        self.logger = logger
        self.progress = progress
    }
}

/// One run of a command: its open directories, its lock and its report.
struct AdministrationSession {
    let administration: Administration
    var report: AdministrationReport
    var rootHandle: DirectoryHandle?
    var volumeHandle: DirectoryHandle?
    var machineHandle: DirectoryHandle?
    var lock: ToolLock?

    var fileSystem: any FileSystem { administration.fileSystem }
    var machine: MachineAddress { report.machine }
    var root: String { administration.root }
    var dryRun: Bool { report.dryRun }

    init(_ administration: Administration, command: String, machine: MachineAddress, dryRun: Bool) {
        self.administration = administration
        report = AdministrationReport(command: command, machine: machine, root: administration.root, dryRun: dryRun)
    }

    /// Opens the machines root and the volume, and the machine directory
    /// when there is one; takes the lock unless this is a dry run.
    mutating func open() async throws(AdministrationError) {
        do throws(FSError) {
            rootHandle = try await fileSystem.openRoot(root)
        } catch where [.noEntry, .notDirectory].contains(error.kind) {
            // A root that is not there is a bad --root, not a failed step.
            throw .usage("no machines root \(root): \(error.cause)", code: "no-root")
        } catch {
            throw .failed("unable to open machines root \(root): \(error.cause)")
        }
        guard let rootHandle else { return }
        if !dryRun, let lockDirectory = administration.lockDirectory {
            let progress = administration.progress
            switch await ToolLock.take(
                for: root, in: lockDirectory, on: fileSystem, wait: administration.lockWait,
                clock: administration.clock,
                progress: { progress("waiting for another buildos-clean run to release its lock: \(Int($0)) s") })
            {
            case .success(let taken): lock = taken
            case .failure(.busy(let waited)):
                let name = await ToolLock.fileName(for: root, on: fileSystem)
                throw AdministrationError(
                    code: "busy",
                    "another buildos-clean run holds the lock \(lockDirectory)/\(name) "
                        + "(waited \(Int(waited)) s; see --wait)",
                    status: AdministrationStatus.busy)
            case .failure(.failed(let error)):
                throw .failed("unable to take the lock of \(root): \(error.cause)")
            }
        }
        do throws(FSError) {
            let status = try await fileSystem.status(of: machine.volume, in: rootHandle)
            guard status.kind.isDirectory else { throw FSError(.notDirectory, .status, name: machine.volume) }
            volumeHandle = try await fileSystem.openDirectory(machine.volume, in: rootHandle)
        } catch {
            throw .usage(
                "unknown volume \(machine.volume): \(EntryPath(volume: machine.volume).rendered(root: root)) "
                    + (error.kind == .noEntry ? "does not exist" : "is not a directory (\(error.cause))"),
                code: "unknown-volume")
        }
        try await openMachineDirectory()
    }

    /// The commands that receive need the volume on btrfs. A volume whose
    /// filesystem failed to mount is a plain directory of the root's
    /// filesystem: refused before anything is made in it, rather than
    /// failing at the receive with a directory already made.
    func requireBtrfsVolume() async throws(AdministrationError) {
        guard let volumeHandle else { return }
        let volume = "volume \(machine.volume) (\(EntryPath(volume: machine.volume).rendered(root: root)))"
        do throws(FSError) {
            _ = try await fileSystem.subvolumeID(of: volumeHandle)
        } catch where error.kind == .notBtrfs || error.kind == .notSupported {
            throw .usage(
                "\(volume) is not on a btrfs filesystem: \(error.cause); is its filesystem mounted?", code: "not-btrfs")
        } catch {
            throw .failed("unable to read the filesystem of \(volume): \(error.cause)")
        }
    }

    /// Opens the machine directory, when there is one.
    mutating func openMachineDirectory() async throws(AdministrationError) {
        guard let volumeHandle else { return }
        let status: EntryStatus
        do throws(FSError) {
            status = try await fileSystem.status(of: machine.machine, in: volumeHandle)
        } catch where error.kind == .noEntry {
            machineHandle = nil
            return
        } catch {
            throw .failed("unable to open \(machine.path(in: root)): \(error.cause)")
        }
        guard status.kind.isDirectory else {
            throw .usage(
                "\(machine.path(in: root)) is not a machine directory (\(status.kind.phrase))", code: "not-a-machine")
        }
        do throws(FSError) {
            machineHandle = try await fileSystem.openDirectory(machine.machine, in: volumeHandle)
        } catch {
            throw .failed("unable to open \(machine.path(in: root)): \(error.cause)")
        }
    }

    mutating func close() async {
        for handle in [machineHandle, volumeHandle, rootHandle].compactMap({ $0 }) { await fileSystem.close(handle) }
        machineHandle = nil
        volumeHandle = nil
        rootHandle = nil
        await lock?.release()
        lock = nil
    }

    /// Records a step and, unless this is a dry run, carries it out; a
    /// failure marks it and stops the command.
    mutating func step(
        _ action: AdministrationStep.Action, _ path: String, detail: String? = nil,
        _ body: () async throws(FSError) -> Void
    ) async throws(AdministrationError) {
        var step = AdministrationStep(action, path, detail: detail)
        if dryRun {
            report.steps.append(step)
            return
        }
        administration.logger.debug("\(step.text)")
        do throws(FSError) {
            try await body()
            step.outcome = .done
            report.steps.append(step)
        } catch {
            step.outcome = .failed
            let cause = action == .deleteSubvolume ? fileSystem.deletionCause(error) : error.cause
            step.error = cause
            report.steps.append(step)
            throw .failed("unable to \(step.text): \(cause); running the command again finishes the job")
        }
    }

    // MARK: Looking

    /// The machine directory's entries (none when there is none).
    func entries() async throws(AdministrationError) -> [DirectoryEntry] {
        guard let machineHandle else { return [] }
        do throws(FSError) {
            return try await fileSystem.list(machineHandle)
        } catch {
            throw .failed("unable to read \(machine.path(in: root)): \(error.cause)")
        }
    }

    /// What btrfs says of a subvolume of the machine directory.
    func info(of name: EntryName) async throws(AdministrationError) -> SubvolumeInfo {
        guard let machineHandle else { throw .failed("no machine directory") }
        do throws(FSError) {
            return try await fileSystem.withDirectory(name, in: machineHandle) { subvolume throws(FSError) in
                try await fileSystem.subvolumeInfo(of: subvolume)
            }
        } catch {
            throw .failed("unable to read \(machine.path(of: name, in: root)): \(error.cause)")
        }
    }

    /// The target of the machine's current link, nil when there is none.
    func currentTarget(in entries: [DirectoryEntry]) async throws(AdministrationError) -> String? {
        guard let machineHandle, let link = entries.first(where: { $0.name == machine.machine }) else { return nil }
        guard link.kind == .symlink else {
            throw .usage(
                "\(machine.path(of: machine.machine, in: root)) is not a symbolic link (\(link.kind.phrase)): "
                    + "the machine's layout is not recognised", code: "link-in-error")
        }
        do throws(FSError) {
            return try await fileSystem.readLink(machine.machine, in: machineHandle)
        } catch {
            throw .failed("unable to read \(machine.path(of: machine.machine, in: root)): \(error.cause)")
        }
    }

    // MARK: Acting

    /// Deletes a subvolume of the machine directory after checking it is
    /// one, by id, refusing one with a mount inside.
    func deleteSubvolume(_ name: EntryName) async throws(FSError) {
        guard let machineHandle else { throw FSError(.badDescriptor, .deleteSubvolume, name: name) }
        try await fileSystem.withDirectory(name, in: machineHandle) { subvolume throws(FSError) in
            guard try await fileSystem.status(of: subvolume).kind == .subvolume else {
                throw FSError(.invalidArgument, .deleteSubvolume, name: name)
            }
            let id = try await fileSystem.subvolumeID(of: subvolume)
            if let (cause, _) = try await fileSystem.mountRefusal(of: subvolume) {
                var busy = FSError(.busy, .deleteSubvolume, name: name)
                busy.detail = cause
                throw busy
            }
            try await fileSystem.deleteSubvolume(id: id, opened: subvolume, named: name, in: machineHandle)
        }
    }

    /// Why a subvolume of the machine directory must not be deleted for
    /// what is mounted (at or inside it, or it elsewhere), as a note's
    /// words; nil when nothing is. A look that fails is a reason too.
    func mountRefusal(of name: EntryName) async -> String? {
        guard let machineHandle else { return nil }
        do throws(FSError) {
            return try await fileSystem.withDirectory(name, in: machineHandle) { subvolume throws(FSError) in
                try await fileSystem.mountRefusal(of: subvolume)?.0
            }
        } catch {
            return "mounts cannot be looked for: \(error.cause)"
        }
    }

    /// Syncs the machine's filesystem.
    mutating func sync() async throws(AdministrationError) {
        guard let handle = machineHandle ?? volumeHandle else { return }
        let fileSystem = self.fileSystem
        try await step(.sync, machine.path(in: root)) { () throws(FSError) in try await fileSystem.sync(handle) }
    }
}

extension Administration {
    /// Runs a command's body in a session: opens, runs, closes, and puts
    /// the error into the report.
    ///
    /// A real run first runs as a dry run: what it refuses, it refuses
    /// before taking the lock (whose file it would create) or touching
    /// anything. Under the lock it then checks everything again.
    func session(
        _ command: String, _ machine: MachineAddress, dryRun: Bool,
        _ body: (inout AdministrationSession) async throws(AdministrationError) -> Void
    ) async -> AdministrationReport {
        if !dryRun {
            let rehearsal = await session(command, machine, dryRun: true, body)
            if let error = rehearsal.error {
                var report = AdministrationReport(command: command, machine: machine, root: root, dryRun: false)
                report.error = error
                return report
            }
        }
        var session = AdministrationSession(self, command: command, machine: machine, dryRun: dryRun)
        do throws(AdministrationError) {
            try await session.open()
            try await body(&session)
        } catch {
            session.report.error = error
        }
        await session.close()
        return session.report
    }
}
