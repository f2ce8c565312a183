import FSProtocol

/// The backends the conformance suite runs on here.
public enum Backends {
    /// Every backend available on this machine; the simulated one always.
    public static let all: [any ConformanceBackend] = [SimulatedBackend()] + RealBackendAvailability.backends
}

/// Runs `body` in a fresh sandbox and tears it down afterwards.
public func withSandbox(
    _ backend: any ConformanceBackend, _ options: SandboxOptions = .standard, file: String = #fileID,
    function: String = #function, _ body: (any Sandbox, DirectoryHandle) async throws -> Void
) async throws {
    let sandbox = try await backend.makeSandbox(options)
    if backend is RealBackend { RealBackendCount.record(file: file, function: function) }
    do {
        let directory = try await sandbox.open()
        try await body(sandbox, directory)
        await sandbox.root.close(directory)
    } catch {
        await sandbox.tearDown()
        throw error
    }
    await sandbox.tearDown()
}

extension FileSystem {
    /// The names in a directory.
    public func names(_ directory: DirectoryHandle) async throws -> [String] {
        try await list(directory).map(\.name.rawValue)
    }

    /// Whether `name` exists in `directory`.
    public func exists(_ name: EntryName, in directory: DirectoryHandle) async throws -> Bool {
        do {
            _ = try await status(of: name, in: directory)
            return true
        } catch where error.kind == .noEntry {
            return false
        }
    }

    /// Creates a file holding `text`.
    public func writeFile(_ name: EntryName, in directory: DirectoryHandle, _ text: String) async throws {
        let file = try await openFile(name, in: directory, options: [.create, .write])
        try await write(Array(text.utf8), to: file)
        await close(file)
    }
}
