import MachineLayout
import FSProtocol

/// A model of the original boot cleanup, the bash block of the 2017 Build
/// OS monitor (SPEC §2), with the tools it called and their flaws: `[ -d ]`
/// and the btrfs commands follow symbolic links, the read-only property is
/// cleared before each delete, dot-entries are never looked at, anything
/// that is not a directory fails the run. It exists to show in a
/// simulation what those flaws cost.
public struct OriginalCleanup: Sendable {
    public let toolchains: ToolchainSet
    public let environment: ActorEnvironment

    public init(toolchains: ToolchainSet, environment: ActorEnvironment) {
        self.toolchains = toolchains
        self.environment = environment
    }

    var fs: any FileSystem { environment.fileSystem }

    /// Runs the original loop; the lines it printed, in its order.
    public func run() async -> [Diagnostic] {
        var lines: [Diagnostic] = []
        let root = environment.machinesRoot
        guard let rootDirectory = try? await fs.openRoot(root) else { return lines }
        for volume in await glob(rootDirectory) {
            let volumePath = root + "/" + volume.rawValue
            guard let volumeDirectory = await directoryFollowingLinks(volume, in: rootDirectory) else {
                lines.append(Diagnostic(path: volumePath, level: .error, message: "invalid volume"))
                continue
            }
            for machine in await glob(volumeDirectory) {
                let machinePath = volumePath + "/" + machine.rawValue
                guard let machineDirectory = await directoryFollowingLinks(machine, in: volumeDirectory) else {
                    lines.append(Diagnostic(path: machinePath, level: .error, message: "invalid machine"))
                    continue
                }
                let deleting = (try? await fs.status(of: machine, in: machineDirectory))?.kind != .symlink
                for entry in await glob(machineDirectory) where entry.rawValue.startsWithBytes(machine.rawValue + "-") {
                    lines += await clean(entry, of: machine, in: machineDirectory, path: machinePath, deleting: deleting)
                }
                await fs.close(machineDirectory)
                if deleting {
                    do {
                        try await fs.removeDirectory(machine, in: volumeDirectory)
                        lines.append(Diagnostic(path: machinePath, level: .info, message: "deleted machine directory"))
                    } catch {
                        lines.append(Diagnostic(path: machinePath, level: .error, message: "unable to delete machine directory"))
                    }
                }
            }
            await fs.close(volumeDirectory)
        }
        await fs.close(rootDirectory)
        return lines
    }

    /// `*` in bash: the names that do not start with a dot.
    func glob(_ directory: DirectoryHandle) async -> [EntryName] {
        ((try? await fs.list(directory)) ?? []).map(\.name).filter { !$0.rawValue.startsWithBytes(".") }
    }

    /// `[ -d NAME ] && cd NAME`: a link to a directory counts as one.
    func directoryFollowingLinks(_ name: EntryName, in directory: DirectoryHandle) async -> DirectoryHandle? {
        let target = await ShellTools.resolve(name, in: directory, on: fs) { _ in }
        return try? await fs.openDirectory(target, in: directory)
    }

    func clean(_ entry: EntryName, of machine: EntryName, in directory: DirectoryHandle, path: String, deleting: Bool)
        async -> [Diagnostic]
    {
        let entryPath = path + "/" + entry.rawValue
        guard let opened = await directoryFollowingLinks(entry, in: directory) else {
            return [Diagnostic(path: entryPath, level: .error, message: "invalid machine subvolume")]
        }
        await fs.close(opened)
        if !deleting {
            switch MachineEntryName(classifying: entry, machine: machine) {
            case .revision: return []
            case .bootstrapped(let toolchain) where toolchains.contains(toolchain): return []
            default: break
            }
        }
        // btrfs property set -ts S ro false; btrfs subvolume delete S: both
        // resolve S, following a link.
        let target = await ShellTools.resolve(entry, in: directory, on: fs) { link in
            environment.note(.followedSymlink(path + "/" + link))
        }
        do {
            try await fs.withDirectory(target, in: directory) { subvolume throws(FSError) in
                try await fs.setReadOnly(false, of: subvolume)
            }
        } catch {
            return [Diagnostic(path: entryPath, level: .error, message: "unable to change subvolume property")]
        }
        do {
            try await fs.deleteSubvolume(target, in: directory)
        } catch {
            return [Diagnostic(path: entryPath, level: .error, message: "unable to delete subvolume")]
        }
        return [Diagnostic(path: entryPath, level: .info, message: "deleted subvolume")]
    }
}
