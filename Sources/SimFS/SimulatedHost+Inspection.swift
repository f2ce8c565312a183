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
