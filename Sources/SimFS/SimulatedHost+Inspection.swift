import FSProtocol

extension SimulatedHost {
    /// The descriptors a process holds open, in order: what a run left
    /// behind when it should have closed everything.
    public func openDescriptors(of process: SimulatedProcess) -> [Int32] {
        state.withLock { state in
            guard state.isAlive(process.processID, boot: process.boot) else { return [] }
            return state.processes[process.processID]?.descriptors.keys ?? []
        }
    }
}

extension SimulatedHost {
    /// A count of the changes to the host's trees so far: every entry,
    /// attribute, content, subvolume, mount or crash bumps it; opening,
    /// reading, locking and closing do not. Equal counts before and after
    /// a run mean the run changed nothing, without reading the tree back.
    public var treeChanges: UInt64 {
        state.withLock { state in
            state.filesystems.reduce(state.mountChanges) { $0 &+ $1.changeCount }
        }
    }
}
