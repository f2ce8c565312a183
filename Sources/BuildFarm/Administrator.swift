import MachineLayout
import FSProtocol

/// A model of the administrator following the manual's procedures (SPEC §4)
/// with the tools it names, including their pitfalls, so that a simulation
/// can show what each costs.
public struct Administrator: Sendable {
    public enum Procedure: Hashable, Sendable {
        /// `mkdir`; receive revision N; make it the build user's; link last.
        case add(revision: Int)
        /// Receive revision `to`; switch the link (`ln -s`, `mv -T`); then,
        /// when `deleteOld`, delete revision `from` (flipping read-only, as
        /// the manual does).
        case upgrade(from: Int, to: Int, deleteOld: Bool)
        /// Remove the link; wait until no working snapshot is left; delete
        /// every `<m>-*` (flipping read-only, following links, as the
        /// manual's loop does); `rmdir`.
        case delete
    }

    /// Mistakes an administrator makes, as options.
    public struct Pitfalls: OptionSet, Hashable, Sendable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }

        /// `mv new-m m` without `-T`: `m` is a link to a directory, so `mv`
        /// moves the temporary link into it instead of over it.
        public static let mvWithoutT = Pitfalls(rawValue: 1 << 0)
        /// A temporary link `new-<m>` left by an earlier attempt, pointing
        /// at the old revision: `ln -s` then creates the new link inside the
        /// old revision, and `mv -T` switches back to the old one.
        public static let leftoverTemporaryLink = Pitfalls(rawValue: 1 << 1)
    }

    public let machine: MachineRef
    public let procedure: Procedure
    public let pitfalls: Pitfalls
    /// The build user the manual makes the owner of revisions.
    public let buildUser: (user: UInt32, group: UInt32)
    /// How long the delete procedure waits between looks at the working
    /// snapshots.
    public let pollSeconds: Int
    public let environment: ActorEnvironment

    public init(
        machine: MachineRef, procedure: Procedure, pitfalls: Pitfalls = [], buildUser: (UInt32, UInt32) = (1000, 1000),
        pollSeconds: Int = 10, environment: ActorEnvironment
    ) {
        self.machine = machine
        self.procedure = procedure
        self.pitfalls = pitfalls
        self.buildUser = buildUser
        self.pollSeconds = pollSeconds
        self.environment = environment
    }

    var fs: any FileSystem { environment.fileSystem }
    var temporaryLink: EntryName { EntryName("new-" + machine.machine.rawValue) ?? "new-machine" }

    /// Carries the procedure out. A failing step is noted and the
    /// administrator goes on, as one typing the manual's commands does.
    public func run() async throws {
        let volume = try await fs.openRoot(environment.machinesRoot + "/" + machine.volume.rawValue)
        do {
            try await run(in: volume)
        } catch {
            await fs.close(volume)
            throw error
        }
        await fs.close(volume)
    }

    func run(in volume: DirectoryHandle) async throws {
        switch procedure {
        case .add(let revision):
            await step("mkdir") { () throws(FSError) in try await fs.makeDirectory(machine.machine, in: volume) }
            guard let directory = try? await fs.openDirectory(machine.machine, in: volume) else { return }
            await receive(revision, in: directory)
            await step("ln -s") { () throws(FSError) in
                try await fs.createSymlink(machine.machine, in: directory, target: revisionName(revision).rawValue)
            }
            await fs.close(directory)
        case .upgrade(let from, let to, let deleteOld):
            guard let directory = try? await fs.openDirectory(machine.machine, in: volume) else { return }
            if pitfalls.contains(.leftoverTemporaryLink) {
                await step("leftover ln -s") { () throws(FSError) in
                    try await fs.createSymlink(temporaryLink, in: directory, target: revisionName(from).rawValue)
                }
            }
            await receive(to, in: directory)
            await switchLink(to: to, in: directory)
            if deleteOld { await deleteRevision(from, in: directory) }
            await fs.close(directory)
        case .delete:
            guard let directory = try? await fs.openDirectory(machine.machine, in: volume) else { return }
            await step("rm link") { () throws(FSError) in try await fs.unlink(machine.machine, in: directory) }
            do {
                try await waitForBuilds(in: directory)
            } catch {
                await fs.close(directory)
                throw error
            }
            await deleteEverything(in: directory)
            await fs.close(directory)
            await step("rmdir") { () throws(FSError) in try await fs.removeDirectory(machine.machine, in: volume) }
        }
    }

    func revisionName(_ revision: Int) -> EntryName { MachineNaming.revision(machine.machine, revision) }

    /// One command; its failure is noted, not fatal.
    func step(_ what: String, _ body: () async throws(FSError) -> Void) async {
        do throws(FSError) {
            try await body()
        } catch {
            environment.note(.note("\(what) on \(machine) failed: \(error)"))
        }
    }

    /// `btrfs receive` (a subvolume with the image, read-only at the end),
    /// then the manual's owner change: clear read-only, `chown`, set it.
    func receive(_ revision: Int, in directory: DirectoryHandle) async {
        let name = revisionName(revision)
        await step("receive") { () throws(FSError) in
            try await fs.createSubvolume(name, in: directory)
            try await fs.withDirectory(name, in: directory) { image throws(FSError) in
                let disk = try await fs.openFile("disk.img", in: image, options: [.create, .write])
                try await fs.write(Array("revision \(revision)\n".utf8), to: disk)
                await fs.close(disk)
                try await fs.setReadOnly(true, of: image)
            }
        }
        await step("chown") { () throws(FSError) in
            try await fs.withDirectory(name, in: directory) { image throws(FSError) in
                try await fs.setReadOnly(false, of: image)
                try await fs.changeOwner(of: name, in: directory, owner: buildUser.user, group: buildUser.group)
                try await fs.setReadOnly(true, of: image)
            }
        }
    }

    /// `ln -s <m>-<to> new-<m>; mv -T new-<m> <m>`, with the pitfalls.
    func switchLink(to revision: Int, in directory: DirectoryHandle) async {
        let target = revisionName(revision).rawValue
        // ln -s: an existing name that is (a link to) a directory gets the
        // new link inside it.
        if let inside = await directoryBehind(temporaryLink, in: directory) {
            await step("ln -s (into the directory behind new-\(machine.machine))") { () throws(FSError) in
                try await fs.createSymlink(revisionName(revision), in: inside, target: target)
            }
            await fs.close(inside)
        } else {
            await step("ln -s") { () throws(FSError) in
                try await fs.createSymlink(temporaryLink, in: directory, target: target)
            }
        }
        if pitfalls.contains(.mvWithoutT), let inside = await directoryBehind(machine.machine, in: directory) {
            // mv without -T: the destination is (a link to) a directory, so
            // the link moves into it; across subvolumes mv falls back to a
            // copy, which a read-only revision refuses.
            await step("mv (into the directory behind \(machine.machine))") { () throws(FSError) in
                do throws(FSError) {
                    try await fs.rename(temporaryLink, in: directory, to: temporaryLink, in: inside, mode: .noReplace)
                } catch where error.kind == .crossDevice {
                    try await fs.createSymlink(temporaryLink, in: inside, target: target)
                    try await fs.unlink(temporaryLink, in: directory)
                }
            }
            await fs.close(inside)
            return
        }
        await step("mv -T") { () throws(FSError) in
            try await fs.rename(temporaryLink, in: directory, to: machine.machine, in: directory, mode: .replace)
        }
    }

    /// The directory a name stands for when a tool follows it: the name
    /// itself, or the target of a link in the same directory.
    func directoryBehind(_ name: EntryName, in directory: DirectoryHandle) async -> DirectoryHandle? {
        guard let status = try? await fs.status(of: name, in: directory) else { return nil }
        if status.kind.isDirectory { return try? await fs.openDirectory(name, in: directory) }
        guard status.kind == .symlink, let target = try? await fs.readLink(name, in: directory),
            let targetName = EntryName(target)
        else { return nil }
        return try? await fs.openDirectory(targetName, in: directory)
    }

    /// `btrfs property set -ts <m>-<N> ro false; btrfs subvolume delete <m>-<N>`.
    func deleteRevision(_ revision: Int, in directory: DirectoryHandle) async {
        await deleteAsTheManualDoes(revisionName(revision), in: directory)
    }

    /// The manual's wait: as long as a `<m>-*-*` name is there, sleep.
    func waitForBuilds(in directory: DirectoryHandle) async throws {
        while true {
            let entries = (try? await fs.list(directory)) ?? []
            let building = entries.contains { entry in
                if case .workingSnapshot = MachineEntryName(classifying: entry.name, machine: machine.machine) {
                    return true
                }
                return false
            }
            if !building { return }
            try await environment.clock.sleep(seconds: pollSeconds)
        }
    }

    /// The manual's loop over `<m>-*`: flip read-only and delete, through
    /// the shell's paths (a link is followed to its target).
    func deleteEverything(in directory: DirectoryHandle) async {
        let prefix = machine.machine.rawValue + "-"
        for entry in (try? await fs.list(directory)) ?? [] where entry.name.rawValue.startsWithBytes(prefix) {
            if entry.kind == .file {
                await step("rm \(entry.name)") { () throws(FSError) in try await fs.unlink(entry.name, in: directory) }
            } else {
                await deleteAsTheManualDoes(entry.name, in: directory)
            }
        }
    }

    func deleteAsTheManualDoes(_ name: EntryName, in directory: DirectoryHandle) async {
        let path = machine.path(in: environment.machinesRoot)
        let target = await ShellTools.resolve(name, in: directory, on: fs) { link in
            environment.note(.followedSymlink(path + "/" + link))
        }
        await step("btrfs property set ro false \(name)") { () throws(FSError) in
            try await fs.withDirectory(target, in: directory) { subvolume throws(FSError) in
                try await fs.setReadOnly(false, of: subvolume)
            }
        }
        await step("btrfs subvolume delete \(name)") { () throws(FSError) in
            try await fs.deleteSubvolume(target, in: directory)
        }
    }
}
