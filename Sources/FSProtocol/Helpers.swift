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

extension FileSystem {
    /// Deletes the subvolume open as `subvolume`, whose id is `id` and
    /// whose name in `directory` is `name`: by id. Where the kernel cannot
    /// (before 5.7: ENOTTY; on an idmapped mount, a subvolume no longer in
    /// `directory`: EOPNOTSUPP, both `notSupported`), by name, only when
    /// the name still holds the open subvolume (its device and inode),
    /// checked right before; else the error stands and nothing is deleted.
    /// (The fallback is for old kernels: on a newer one the kernel turns
    /// the id into a name and deletes what that name holds within one
    /// call, while a check then a delete by name leaves a moment between
    /// them in user space; docs/cleanup.md.)
    public func deleteSubvolume(
        id: SubvolumeID, opened subvolume: DirectoryHandle, named name: EntryName, in directory: DirectoryHandle
    ) async throws(FSError) {
        do throws(FSError) {
            try await deleteSubvolume(id: id, via: directory)
        } catch where error.kind == .notSupported {
            // A name that no longer holds it (gone included) is no sign
            // that the subvolume is gone: the error stands.
            guard let opened = try? await status(of: subvolume), let named = try? await status(of: name, in: directory),
                named.kind == .subvolume, named.identity == opened.identity
            else { throw error }
            try await deleteSubvolume(name, in: directory)
        }
    }
}
