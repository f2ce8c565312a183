import FSProtocol
import Synchronization

/// An in-memory host with btrfs filesystems, faithful to the kernel in the
/// calls the protocol makes.
///
/// A host holds filesystems (btrfs or not) mounted on one tree, the
/// processes that act on them, and the locks they hold. Each process is a
/// `SimulatedProcess`, a `FileSystem` of its own. Everything is
/// deterministic: listings are sorted, ids and UUIDs come from counters, and
/// no state is iterated in hash order where the order can show.
///
/// A crash brings each btrfs filesystem back to its last committed
/// transaction (a sync or a snapshot commits), empties tmpfs, and ends every
/// process.
public final class SimulatedHost: Sendable {
    let state: Mutex<HostState>

    /// A host whose root filesystem (`/`) is not btrfs, as on Build OS.
    public init() {
        var state = HostState()
        let root = state.makeFilesystem(isBtrfs: false, durability: .image, userSubvolumeRemovalAllowed: false)
        state.rootFilesystem = root
        self.state = Mutex(state)
    }

    /// A host in the state another one is in now (its processes too), with
    /// no gate and no observer: what a simulation starts each run from.
    public init(copying other: SimulatedHost) {
        var copy = other.state.withLock { $0 }
        copy.gate = nil
        copy.observer = nil
        state = Mutex(copy)
    }

    /// Installs the scheduler's gate; nil removes it.
    public func install(gate: (any SimulationGate)?) {
        state.withLock { $0.gate = gate }
    }

    /// Installs the observer that sees every call; nil removes it.
    public func install(observer: (any SimulationObserver)?) {
        state.withLock { $0.observer = observer }
    }

    // MARK: Processes

    /// Starts a process with the given credentials.
    public func spawn(_ credentials: Credentials = .root) -> SimulatedProcess {
        let (pid, boot) = state.withLock { state in
            let pid = state.nextPID
            state.nextPID += 1
            state.processes[pid] = ProcessState(pid: pid, boot: state.boot, credentials: credentials)
            return (pid, state.boot)
        }
        return SimulatedProcess(host: self, processID: pid, boot: boot, credentials: credentials)
    }

    /// Ends a process as a crash would: its descriptors close and its locks
    /// go; its files stay.
    public func kill(_ process: SimulatedProcess) {
        state.withLock { state in
            guard state.isAlive(process.processID, boot: process.boot) else { return }
            let pid = process.processID
            for descriptor in state.processes[pid]?.descriptors.keys ?? [] { state.closeDescriptor(descriptor, of: pid) }
            state.processes.update(pid) { $0.isAlive = false }
        }
    }

    /// Whether a process is still running.
    public func isAlive(_ process: SimulatedProcess) -> Bool {
        state.withLock { $0.isAlive(process.processID, boot: process.boot) }
    }

    /// Whether the process now holding `pid` is running (a process of
    /// this boot, then).
    public func isAlive(_ pid: Int32) -> Bool {
        state.withLock { $0.processes[pid]?.isAlive ?? false }
    }

    /// The process ids that hold a descriptor into a subvolume or a
    /// subvolume below it, sorted.
    public func processesUsing(filesystem: Int, subvolume: SubvolumeID) -> [Int32] {
        state.withLock { state in
            var users: [Int32] = []
            for process in state.processes.values {
                let pid = process.pid
                guard process.isAlive else { continue }
                let inside = process.descriptors.values.contains { open in
                    open.node.filesystem == filesystem
                        && state.isBelowSubvolume(state.node(open.node).subvolume, subvolume, on: filesystem)
                }
                if inside { users.append(pid) }
            }
            return users
        }
    }

    /// Crashes the host: every process dies, each btrfs filesystem returns
    /// to its last commit, tmpfs comes back empty, mounts made at run time
    /// are gone, and process ids start over.
    public func crash() {
        state.withLock { $0.crash() }
    }

    /// Commits every btrfs filesystem, as the periodic transaction commit
    /// does.
    public func commitAll() {
        state.withLock { state in
            state.sealPendingSetup()
            for index in state.filesystems.indices { state.commit(index) }
        }
    }
}

extension HostState {
    mutating func makeFilesystem(isBtrfs: Bool, durability: Durability, userSubvolumeRemovalAllowed: Bool) -> Int {
        let index = filesystems.count
        filesystems.append(
            FilesystemState(
                index: index, isBtrfs: isBtrfs, durability: durability, device: allocateDevice(),
                userSubvolumeRemovalAllowed: userSubvolumeRemovalAllowed, isJournaling: !setupIsPending))
        return index
    }

    /// Whether subvolume `id` is `outer` or lies below it.
    func isBelowSubvolume(_ id: SubvolumeID, _ outer: SubvolumeID, on filesystem: Int) -> Bool {
        var current: SubvolumeID? = id
        while let candidate = current {
            if candidate == outer { return true }
            current = filesystems[filesystem].subvolumes[candidate]?.parentSubvolume
        }
        return false
    }

    func isAlive(_ pid: Int32, boot: Int) -> Bool {
        guard let process = processes[pid] else { return false }
        return process.isAlive && process.boot == boot
    }

    mutating func crash() {
        sealPendingSetup()
        boot += 1
        processes = IndexedTable(base: firstPID)
        locks = [:]
        openCounts = [:]
        for index in filesystems.indices {
            switch filesystems[index].durability {
            case .btrfs, .image:
                filesystems[index].rollBack()
            case .volatile:
                filesystems[index] = filesystems[index].emptied()
            }
        }
        for (covered, mount) in mounts.sorted(by: { $0.key < $1.key })
        where !mount.isPersistent || nodeIfPresent(covered) == nil {
            unmount(covered)
        }
        // The tree above the mounts may have changed back.
        mountsBelow = [:]
        for covered in mounts.keys { countMount(at: covered, 1) }
        nextPID = firstPID
    }
}
