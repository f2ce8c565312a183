extension FileSystem {
    /// Runs `body` with `name` in `parent` open as a directory, and closes
    /// it afterwards whatever `body` does.
    public func withDirectory<Result>(
        _ name: EntryName, in parent: DirectoryHandle,
        _ body: (DirectoryHandle) async throws(FSError) -> Result
    ) async throws(FSError) -> Result {
        try await closing(try await openDirectory(name, in: parent), body)
    }

    /// Runs `body` with the directory at `path` open, and closes it
    /// afterwards.
    public func withRoot<Result>(
        _ path: String, _ body: (DirectoryHandle) async throws(FSError) -> Result
    ) async throws(FSError) -> Result {
        try await closing(try await openRoot(path), body)
    }

    /// Runs `body` with an open directory, then closes it.
    func closing<Result>(
        _ directory: DirectoryHandle, _ body: (DirectoryHandle) async throws(FSError) -> Result
    ) async throws(FSError) -> Result {
        do {
            let result = try await body(directory)
            await close(directory)
            return result
        } catch {
            await close(directory)
            throw error
        }
    }
}
