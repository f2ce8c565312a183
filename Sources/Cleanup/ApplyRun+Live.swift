import FSProtocol
import MachineLayout

/// The machine locks a live cleanup holds on the current machine.
struct LiveLocks {
    var held: [Toolchain: MachineLock] = [:]
    var busy: Set<Toolchain> = []
    /// Toolchains whose lock file cannot exist: its name would be longer
    /// than a name may be. No agent can take such a lock, so none uses
    /// what it would guard.
    var unholdable: Set<Toolchain> = []
    /// Whether some entry of the machine was kept for a busy lock.
    var keptAny = false
}

/// Which locks an item needs in live mode.
enum LockNeed: Hashable {
    case none
    /// The lock of one toolchain: its agents' entries.
    case toolchain(Toolchain)
    /// Every lock of the machine: a revision or the directory of a deleted
    /// machine, which any toolchain's agent may be reading.
    case all
}

extension PlanItem {
    var lockNeed: LockNeed {
        switch reason {
        case .staleWorkingSnapshot(let toolchain), .unconfiguredToolchain(let toolchain),
            .staleLockFile(let toolchain):
            return .toolchain(toolchain)
        case .machineWithoutLink, .staleTemporaryLink:
            guard let entry = path.entry, let machine = path.machine else { return .all }
            switch MachineEntryName(classifying: entry, machine: machine).lockGuard {
            case .toolchain(let toolchain): return .toolchain(toolchain)
            case .every: return .all
            }
        case .emptiedMachineDirectory:
            return .all
        default:
            return .none
        }
    }
}

/// Live mode: take the locks a machine's items need, act only under them,
/// release them as an agent would (unlink, then close).
extension ApplyRun {
    /// The toolchains whose locks the current machine's items need: for a
    /// revision or a deleted machine's directory, every toolchain that
    /// shows in the directory or is configured.
    func neededToolchains() -> [Toolchain] {
        var toolchains: Set<Toolchain> = []
        var needsAll = false
        for item in machineItems {
            switch item.lockNeed {
            case .none: break
            case .toolchain(let toolchain): toolchains.insert(toolchain)
            case .all: needsAll = true
            }
        }
        if needsAll {
            toolchains.formUnion(plan.toolchains.toolchains)
            for item in machineItems {
                guard let entry = item.path.entry, let machine = item.path.machine else { continue }
                if case .toolchain(let toolchain) = MachineEntryName(classifying: entry, machine: machine).lockGuard {
                    toolchains.insert(toolchain)
                }
            }
        }
        return toolchains.sorted()
    }

    mutating func takeLocks(for machine: EntryName, in directory: DirectoryHandle) async {
        let toolchains = neededToolchains()
        guard !toolchains.isEmpty else { return }
        let owner = (try? await fileSystem.status(of: directory)).map { (user: $0.owner, group: $0.group) }
        for toolchain in toolchains {
            if MachineNaming.lockFile(machine, toolchain).rawValue.utf8.count > Layout.maximumNameBytes {
                locks.unholdable.insert(toolchain)
                continue
            }
            do throws(FSError) {
                if let lock = try await MachineLock.take(
                    toolchain, machine: machine, in: directory, on: fileSystem, owner: owner)
                {
                    locks.held[toolchain] = lock
                    continue
                }
                logger.debug("lock busy", metadata: ["machine": "\(machine)", "toolchain": "\(toolchain)"])
            } catch {
                // Not busy but failing (a directory in its place, no
                // permission, EIO): the entries stay, and the operator is
                // told, or they would stay unnoticed on every run.
                if let volume = volume?.name {
                    let path = EntryPath(volume: volume, machine: machine, entry: MachineNaming.lockFile(machine, toolchain))
                    report.add(line(path, .error, "unable to take machine lock", error.cause))
                }
            }
            locks.busy.insert(toolchain)
        }
    }

    /// The toolchain whose lock an item misses (`nil` inside when it misses
    /// one of all), or nil when it may go ahead.
    func lockMissing(for item: PlanItem) -> Toolchain?? {
        switch item.lockNeed {
        case .none: return nil
        case .toolchain(let toolchain):
            return locks.held[toolchain] == nil && !locks.unholdable.contains(toolchain) ? .some(toolchain) : nil
        case .all: return locks.busy.isEmpty ? nil : .some(nil)
        }
    }

    mutating func keepLocked(_ item: PlanItem, _ toolchain: Toolchain?) {
        locks.keptAny = true
        report.add(item, .locked(toolchain))
    }

    /// A stale lock file in live mode: releasing the lock taken on it
    /// removes it, as an agent's release does.
    mutating func releaseLockFile(_ item: PlanItem, in directory: DirectoryHandle) async {
        guard case .toolchain(let toolchain) = item.lockNeed else { return keepLocked(item, nil) }
        // Not held: its toolchain's lock was busy (the lock file is that
        // lock), and that is the toolchain to name.
        guard let lock = locks.held.removeValue(forKey: toolchain) else { return keepLocked(item, toolchain) }
        await lock.release(in: directory, on: fileSystem)
        report.add(item, .removed)
        report.add(line(item.path, .info, "removed stale lock file"))
    }

    mutating func releaseLocks(in directory: DirectoryHandle) async {
        for toolchain in locks.held.keys.sorted() {
            await locks.held[toolchain]?.release(in: directory, on: fileSystem)
        }
        locks.held = [:]
    }
}
