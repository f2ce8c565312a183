import FSProtocol

/// The lock a build agent holds on a machine for one toolchain: an
/// exclusive `flock` on `<m>-<tc>.lock` in the machine directory.
///
/// The protocol, as SPEC §4 gives bbot's: take it without waiting (busy
/// means another process has the machine); after the `flock`, check that
/// the file locked is still the one under the name, since a releaser
/// unlinks the file before it closes it; release by unlinking, then
/// closing. The live cleanup and the agent model both use this code.
public struct MachineLock: Sendable {
    public let toolchain: Toolchain
    public let name: EntryName
    public let file: FileHandle

    /// How many times a lock whose file was unlinked under us is tried
    /// again before it counts as busy.
    static let attempts = 3

    /// Takes the lock of `toolchain` on `machine`, whose directory is open
    /// as `directory`, or returns nil when another process holds it. A lock
    /// file it creates gets `owner` when given (the live cleanup, as root,
    /// hands it to the machine directory's owner, as an agent would own it).
    public static func take(
        _ toolchain: Toolchain, machine: EntryName, in directory: DirectoryHandle, on fs: any FileSystem,
        owner: (user: UInt32, group: UInt32)? = nil
    ) async throws(FSError) -> MachineLock? {
        let name = MachineNaming.lockFile(machine, toolchain)
        for _ in 0..<attempts {
            // A lock file it creates for `owner` appears with that owner:
            // a process killed at any moment leaves no file agents cannot
            // open. Where that fails (not root), as before.
            var created: FileHandle?
            if let owner {
                created = try? await fs.createFile(name, in: directory, owner: owner.user, group: owner.group)
            }
            let file: FileHandle
            if let created {
                file = created
            } else {
                file = try await fs.openFile(name, in: directory, options: [.create, .write])
            }
            let locked: Bool
            do throws(FSError) {
                locked = try await fs.tryLock(file)
            } catch {
                await fs.close(file)
                throw error
            }
            guard locked else {
                await fs.close(file)
                return nil
            }
            let mine = try? await fs.status(of: file)
            let named = try? await fs.status(of: name, in: directory)
            if let mine, mine.identity == named?.identity {
                if let owner, mine.owner != owner.user {
                    try? await fs.changeOwner(of: name, in: directory, owner: owner.user, group: owner.group)
                }
                return MachineLock(toolchain: toolchain, name: name, file: file)
            }
            // Released meanwhile: the file we locked is no longer the lock.
            await fs.close(file)
        }
        return nil
    }

    /// Releases the lock: unlinks the lock file, then closes it.
    public func release(in directory: DirectoryHandle, on fs: any FileSystem) async {
        try? await fs.unlink(name, in: directory)
        await fs.close(file)
    }
}

/// Which machine locks guard an entry of a machine directory: what only
/// the holder of those locks may delete beside running agents.
public enum LockGuard: Hashable, Sendable {
    /// The entry is the agents' of one toolchain (its bootstrapped
    /// machine, its working snapshots, its lock file): that toolchain's
    /// lock guards it.
    case toolchain(Toolchain)
    /// Any toolchain's agent may read it (a revision, a received image,
    /// the machine's directory): only every lock of the machine together
    /// guards it.
    case every
}

extension MachineEntryName {
    /// The locks that guard an entry of this name.
    public var lockGuard: LockGuard {
        switch self {
        case .bootstrapped(let toolchain), .workingSnapshot(let toolchain, _), .lockFile(let toolchain):
            .toolchain(toolchain)
        case .currentLink, .revision, .receivedImage, .temporaryLink, .unknown:
            .every
        }
    }
}
