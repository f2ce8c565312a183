import FSProtocol
import MachineLayout

/// One process on a simulated host; the `FileSystem` it sees.
///
/// Each call locks the host, runs atomically, and is one step of a
/// simulation: with a gate installed the call first waits for its turn.
/// Once the process is killed every call fails with `badDescriptor` at
/// once, without a step, so its code unwinds without touching the tree.
public struct SimulatedProcess: FileSystem {
    public let host: SimulatedHost
    public let processID: Int32
    /// The boot it was started in; after a crash its pid may name another
    /// process, and this one is gone.
    public let boot: Int
    /// Who the process is; a process keeps its credentials for life.
    public let credentials: Credentials

    init(host: SimulatedHost, processID: Int32, boot: Int, credentials: Credentials) {
        self.host = host
        self.processID = processID
        self.boot = boot
        self.credentials = credentials
    }

    public var isPrivileged: Bool { credentials.isRoot }

    public func openRoot(_ path: String) async throws(FSError) -> DirectoryHandle {
        try await call(.openRoot, path: path, subject: { _ in path }) { state throws(FSError.Kind) in
            try state.openRoot(processID, path)
        }
    }

    public func openDirectory(_ name: EntryName, in parent: DirectoryHandle) async throws(FSError) -> DirectoryHandle {
        try await call(.openDirectory, name: name, subject: { $0.describe(processID, parent, name) }) {
            state throws(FSError.Kind) in try state.openDirectory(processID, name, parent)
        }
    }

    public func close(_ directory: DirectoryHandle) async {
        _ = try? await call(.close, subject: { $0.describe(processID, directory) }) { state throws(FSError.Kind) in
            if !state.closeDescriptor(directory.descriptor, of: processID) { throw .badDescriptor }
        }
    }

    public func list(_ directory: DirectoryHandle) async throws(FSError) -> [DirectoryEntry] {
        try await call(.list, subject: { $0.describe(processID, directory) }) { state throws(FSError.Kind) in
            try state.list(processID, directory)
        }
    }

    public func status(of name: EntryName, in directory: DirectoryHandle) async throws(FSError) -> EntryStatus {
        try await call(.status, name: name, subject: { $0.describe(processID, directory, name) }) {
            state throws(FSError.Kind) in try state.status(processID, name, directory)
        }
    }

    public func status(of directory: DirectoryHandle) async throws(FSError) -> EntryStatus {
        try await call(.status, subject: { $0.describe(processID, directory) }) { state throws(FSError.Kind) in
            try state.status(processID, directory)
        }
    }

    public func readLink(_ name: EntryName, in directory: DirectoryHandle) async throws(FSError) -> String {
        try await call(.readLink, name: name, subject: { $0.describe(processID, directory, name) }) {
            state throws(FSError.Kind) in try state.readLink(processID, name, directory)
        }
    }

    public func createSymlink(_ name: EntryName, in directory: DirectoryHandle, target: String) async throws(FSError) {
        try await call(
            .createSymlink, name: name, subject: { $0.describe(processID, directory, name) + " -> " + target }
        ) { state throws(FSError.Kind) in try state.createSymlink(processID, name, directory, target) }
    }

    public func unlink(_ name: EntryName, in directory: DirectoryHandle) async throws(FSError) {
        try await call(.unlink, name: name, subject: { $0.describe(processID, directory, name) }) {
            state throws(FSError.Kind) in try state.unlink(processID, name, directory)
        }
    }

    public func makeDirectory(_ name: EntryName, in directory: DirectoryHandle) async throws(FSError) {
        try await call(.makeDirectory, name: name, subject: { $0.describe(processID, directory, name) }) {
            state throws(FSError.Kind) in try state.makeDirectory(processID, name, directory)
        }
    }

    public func removeDirectory(_ name: EntryName, in directory: DirectoryHandle) async throws(FSError) {
        try await call(.removeDirectory, name: name, subject: { $0.describe(processID, directory, name) }) {
            state throws(FSError.Kind) in try state.removeDirectory(processID, name, directory)
        }
    }

    public func rename(
        _ name: EntryName, in directory: DirectoryHandle, to newName: EntryName, in newDirectory: DirectoryHandle,
        mode: RenameMode
    ) async throws(FSError) {
        try await call(
            .rename, name: name, destination: newName,
            subject: {
                $0.describe(processID, directory, name) + " -> " + $0.describe(processID, newDirectory, newName)
                    + (mode == .noReplace ? " (no replace)" : "")
            }
        ) { state throws(FSError.Kind) in try state.rename(processID, name, directory, newName, newDirectory, mode) }
    }

    public func changeOwner(of name: EntryName, in directory: DirectoryHandle, owner: UInt32, group: UInt32)
        async throws(FSError)
    {
        try await call(
            .changeOwner, name: name, subject: { $0.describe(processID, directory, name) + " to \(owner):\(group)" }
        ) { state throws(FSError.Kind) in try state.changeOwner(processID, name, directory, owner, group) }
    }

    public func subvolumeInfo(of directory: DirectoryHandle) async throws(FSError) -> SubvolumeInfo {
        try await call(.subvolumeInfo, subject: { $0.describe(processID, directory) }) { state throws(FSError.Kind) in
            try state.subvolumeInfo(processID, directory)
        }
    }

    public func subvolumeID(of directory: DirectoryHandle) async throws(FSError) -> SubvolumeID {
        try await call(.subvolumeID, subject: { $0.describe(processID, directory) }) { state throws(FSError.Kind) in
            let directory = try state.directory(processID, directory)
            try state.requireBtrfs(directory)
            return try state.containingSubvolumeInfo(directory).id
        }
    }

    public func nestedSubvolumes(of directory: DirectoryHandle) async throws(FSError) -> [NestedSubvolume] {
        try await call(.nestedSubvolumes, subject: { $0.describe(processID, directory) }) {
            state throws(FSError.Kind) in try state.nestedSubvolumes(processID, directory)
        }
    }

    public func createSubvolume(_ name: EntryName, in directory: DirectoryHandle) async throws(FSError) {
        try await call(.createSubvolume, name: name, subject: { $0.describe(processID, directory, name) }) {
            state throws(FSError.Kind) in try state.createSubvolume(processID, name, directory)
        }
    }

    public func snapshot(_ source: DirectoryHandle, as name: EntryName, in directory: DirectoryHandle, readOnly: Bool)
        async throws(FSError)
    {
        try await call(
            .snapshot, name: name,
            subject: {
                $0.describe(processID, source) + " -> " + $0.describe(processID, directory, name)
                    + (readOnly ? " (read-only)" : "")
            }
        ) { state throws(FSError.Kind) in try state.snapshot(processID, source, name, directory, readOnly) }
    }

    public func deleteSubvolume(_ name: EntryName, in directory: DirectoryHandle) async throws(FSError) {
        try await call(.deleteSubvolume, name: name, subject: { $0.describe(processID, directory, name) }) {
            state throws(FSError.Kind) in try state.deleteSubvolume(processID, name, directory)
        }
    }

    public func deleteSubvolume(id: SubvolumeID, via directory: DirectoryHandle) async throws(FSError) {
        try await call(
            .deleteSubvolumeByID, subvolume: id, subject: { $0.describeSubvolume(processID, id, via: directory) }
        ) { state throws(FSError.Kind) in try state.deleteSubvolume(processID, id, directory) }
    }

    public func setReadOnly(_ readOnly: Bool, of subvolume: DirectoryHandle) async throws(FSError) {
        try await call(.setReadOnly, subject: { $0.describe(processID, subvolume) + " \(readOnly)" }) {
            state throws(FSError.Kind) in try state.setReadOnly(processID, readOnly, subvolume)
        }
    }

    /// Four steps (the subvolume appears, the stream's end gives it its
    /// received UUID, it is made read-only, then `btrfs receive` exits),
    /// so that a run can crash, or the receive fail, in between: a failure
    /// of the last step is a `btrfs receive` killed (or failing) after the
    /// revision was whole. The stream must be whole
    /// in `prefix`: a simulated process reads no descriptor of the real
    /// one.
    public func receive(_ stream: SendStream, in directory: DirectoryHandle) async throws(FSError) {
        let header = stream.header
        guard stream.remainder == nil else { throw FSError(.invalidArgument, .receive, name: header.name) }
        let id = try await call(.receive, name: header.name, subject: { $0.describe(processID, directory, header.name) }) {
            state throws(FSError.Kind) in try state.beginReceive(processID, header, directory)
        }
        let complete = SendStream.isComplete(stream.prefix)
        try await call(.receive, name: header.name, subject: { $0.describe(processID, directory, header.name) }) {
            state throws(FSError.Kind) in
            try state.finishReceive(processID, header, id, on: directory, complete: complete)
        }
        try await call(.receive, name: header.name, subject: { $0.describe(processID, directory, header.name) }) {
            state throws(FSError.Kind) in try state.sealReceive(processID, id, on: directory)
        }
        try await call(.receive, name: header.name, subject: { $0.describe(processID, directory, header.name) }) {
            _ throws(FSError.Kind) in
        }
    }

    public func sync(_ directory: DirectoryHandle) async throws(FSError) {
        try await call(.sync, subject: { $0.describe(processID, directory) }) { state throws(FSError.Kind) in
            try state.sync(processID, directory)
        }
    }

    public func mountPoints(inside directory: DirectoryHandle) async throws(FSError) -> [String] {
        try await call(.mountPoints, subject: { $0.describe(processID, directory) }) { state throws(FSError.Kind) in
            try state.mountPoints(processID, directory)
        }
    }

    /// SimFS models mounts of their own filesystems (tmpfs), not bind
    /// mounts: no subvolume is mounted anywhere.
    public func mountPoints(of subvolume: DirectoryHandle) async throws(FSError) -> [String] {
        try await call(.mountPointsOfSubvolume, subject: { $0.describe(processID, subvolume) }) {
            state throws(FSError.Kind) in
            _ = try state.directory(processID, subvolume)
            return []
        }
    }

    public func openFile(_ name: EntryName, in directory: DirectoryHandle, options: FileOpenOptions)
        async throws(FSError) -> FileHandle
    {
        try await call(.openFile, name: name, subject: { $0.describe(processID, directory, name) }) {
            state throws(FSError.Kind) in try state.openFile(processID, name, directory, options)
        }
    }

    public func createFile(_ name: EntryName, in directory: DirectoryHandle, owner: UInt32, group: UInt32)
        async throws(FSError) -> FileHandle
    {
        try await call(.createFile, name: name, subject: { $0.describe(processID, directory, name) }) {
            state throws(FSError.Kind) in try state.createFile(processID, name, directory, owner: owner, group: group)
        }
    }

    public func write(_ bytes: [UInt8], to file: FileHandle) async throws(FSError) {
        try await call(.write, subject: { $0.describe(processID, file) }) { state throws(FSError.Kind) in
            try state.write(processID, bytes, file)
        }
    }

    public func readAll(_ file: FileHandle) async throws(FSError) -> [UInt8] {
        try await call(.read, subject: { $0.describe(processID, file) }) { state throws(FSError.Kind) in
            try state.readAll(processID, file)
        }
    }

    public func status(of file: FileHandle) async throws(FSError) -> EntryStatus {
        try await call(.status, subject: { $0.describe(processID, file) }) { state throws(FSError.Kind) in
            try state.status(processID, file)
        }
    }

    public func tryLock(_ file: FileHandle) async throws(FSError) -> Bool {
        try await call(.lock, subject: { $0.describe(processID, file) }, answer: { $0 ? "taken" : "busy" }) {
            state throws(FSError.Kind) in try state.tryLock(processID, file)
        }
    }

    public func isLockHeld(_ file: FileHandle) async throws(FSError) -> Bool {
        try await call(.lockStatus, subject: { $0.describe(processID, file) }, answer: { $0 ? "held" : "free" }) {
            state throws(FSError.Kind) in try state.isLockHeld(processID, file)
        }
    }

    public func processExists(_ pid: Int32) async -> Bool {
        host.isAlive(pid)
    }

    public func close(_ file: FileHandle) async {
        _ = try? await call(.close, subject: { $0.describe(processID, file) }) { state throws(FSError.Kind) in
            if !state.closeDescriptor(file.descriptor, of: processID) { throw .badDescriptor }
        }
    }

    // MARK: The step

    /// Runs one call as one step: wait for the gate, then run `body` with
    /// the host locked, then tell the observer.
    private func call<Result: Sendable>(
        _ operation: FSOperation, name: EntryName? = nil, destination: EntryName? = nil, path: String? = nil,
        subvolume: SubvolumeID? = nil, subject: (HostState) -> String, answer: ((Result) -> String)? = nil,
        _ body: (inout HostState) throws(FSError.Kind) -> Result
    ) async throws(FSError) -> Result {
        func failure(_ kind: FSError.Kind) -> FSError {
            FSError(kind, operation, name: name, destination: destination, path: path, subvolume: subvolume)
        }
        if let name, !name.isExact { throw failure(.invalidArgument) }
        if let destination, !destination.isExact { throw failure(.invalidArgument) }
        // A name longer than NAME_MAX bytes fails the path walk
        // (ENAMETOOLONG, which `FSError.Kind` names among its others).
        let tooLong = FSError.Kind.other(errno: 36)
        if let name, name.rawValue.utf8.count > Layout.maximumNameBytes { throw failure(tooLong) }
        if let destination, destination.rawValue.utf8.count > Layout.maximumNameBytes { throw failure(tooLong) }
        // Without a gate or an observer a call is one locked step.
        let start = host.state.withLock { state -> CallStart<Result> in
            guard state.isAlive(processID, boot: boot) else { return .done(.failure(.badDescriptor)) }
            guard state.gate == nil, state.observer == nil else {
                return .step(gate: state.gate, observer: state.observer)
            }
            state.sealPendingSetup()
            do throws(FSError.Kind) {
                return .done(.success(try body(&state)))
            } catch {
                return .done(.failure(error))
            }
        }
        guard case .step(let gate, let observer) = start else {
            if case .done(.success(let value)) = start { return value }
            if case .done(.failure(let kind)) = start { throw failure(kind) }
            throw failure(.badDescriptor)
        }
        if let gate, !(await gate.waitForTurn(of: processID)) { throw failure(.badDescriptor) }
        let (outcome, event) = host.state.withLock { state -> (Swift.Result<Result, FSError.Kind>, SimulatedEvent?) in
            guard state.isAlive(processID, boot: boot) else { return (.failure(.badDescriptor), nil) }
            state.sealPendingSetup()
            let traced = state.gate != nil || state.observer != nil
            let subjects = (state.gate?.wantsSubjects ?? false) || (state.observer?.wantsSubjects ?? false)
            let call =
                traced
                ? SimulatedCall(pid: processID, operation: operation, subject: subjects ? subject(state) : "") : nil
            if let call, let gate = state.gate, case .fail(let kind) = gate.decide(call) {
                // Linux releases the descriptor whatever close(2) answers:
                // an injected failure of a close still closes.
                if operation == .close { _ = try? body(&state) }
                let event = SimulatedEvent(call: call, error: failure(kind), wasInjected: true, effects: [])
                return (.failure(kind), event)
            }
            state.isRecordingEffects = state.observer != nil
            defer { state.isRecordingEffects = false }
            let result: Swift.Result<Result, FSError.Kind>
            do throws(FSError.Kind) {
                result = .success(try body(&state))
            } catch {
                result = .failure(error)
            }
            guard let call, state.observer != nil else { return (result, nil) }
            // Moved out, not copied: most calls have no effects, and
            // clearing a shared buffer would allocate on every step.
            var effects: [SimulatedEffect] = []
            if !state.effects.isEmpty { swap(&effects, &state.effects) }
            var event = SimulatedEvent(call: call, error: nil, wasInjected: false, effects: effects)
            switch result {
            case .failure(let kind): event.error = failure(kind)
            case .success(let value): event.answer = answer?(value)
            }
            return (result, event)
        }
        if let event { observer?.didPerform(event) }
        switch outcome {
        case .success(let value): return value
        case .failure(let kind): throw failure(kind)
        }
    }
}

/// How a call begins: done at once, or a step to wait for.
enum CallStart<Result> {
    case done(Swift.Result<Result, FSError.Kind>)
    case step(gate: (any SimulationGate)?, observer: (any SimulationObserver)?)
}

extension HostState {
    /// `path/name` of an entry in a process's directory, for traces.
    func describe(_ pid: Int32, _ handle: DirectoryHandle, _ name: EntryName? = nil) -> String {
        guard let open = processes[pid]?.descriptors[handle.descriptor], nodeIfPresent(open.node) != nil else {
            return "\(handle)" + (name.map { "/" + $0.rawValue } ?? "")
        }
        guard let name else { return path(of: open.node) }
        return path(of: name, in: open.node)
    }

    func describe(_ pid: Int32, _ handle: FileHandle) -> String {
        guard let open = processes[pid]?.descriptors[handle.descriptor], nodeIfPresent(open.node) != nil else {
            return "\(handle)"
        }
        return path(of: open.node)
    }

    func describeSubvolume(_ pid: Int32, _ id: SubvolumeID, via handle: DirectoryHandle) -> String {
        guard let open = processes[pid]?.descriptors[handle.descriptor],
            let subvolume = filesystems[open.node.filesystem].subvolumes[id], !subvolume.isDeleted,
            nodeIfPresent(NodeRef(filesystem: open.node.filesystem, node: subvolume.root)) != nil
        else { return "subvolume \(id)" }
        return path(of: NodeRef(filesystem: open.node.filesystem, node: subvolume.root)) + " (subvolume \(id))"
    }
}
