import FSProtocol

/// Removes a case's tree from the real filesystem through the protocol,
/// never following a symbolic link.
///
/// The tree holds read-only subvolumes, subvolumes nested in them and
/// links pointing anywhere. Every entry is looked at with `lstat` and
/// opened with `O_NOFOLLOW`, so a link is unlinked, never entered. Root
/// deletes a subvolume with everything in it, read-only or not, unless it
/// holds nested subvolumes (ENOTEMPTY): then its read-only flag is cleared
/// (the kernel refuses every change inside a read-only subvolume), what it
/// holds is removed the same way, depth first, and it is deleted again.
/// Plain directories are emptied, then removed; files and links unlinked.
enum CaseTreeRemoval {
    /// Removes the entry `name` of the directory at `parentPath` and
    /// everything below it: what could not be removed, as `path: cause`
    /// (empty when all went).
    static func remove(_ name: EntryName, in parentPath: String, on fileSystem: any FileSystem) async -> [String] {
        var removal = Removal(fileSystem: fileSystem)
        do throws(FSError) {
            let parent = try await fileSystem.openRoot(parentPath)
            await removal.remove(name, in: parent, path: parentPath + "/" + name.rawValue)
            await fileSystem.close(parent)
        } catch {
            removal.problems.append("\(parentPath): \(error.cause)")
        }
        return removal.problems
    }

    /// One removal and the problems it met.
    struct Removal {
        let fileSystem: any FileSystem
        var problems: [String] = []

        mutating func remove(_ name: EntryName, in parent: DirectoryHandle, path: String) async {
            let status: EntryStatus
            do throws(FSError) {
                status = try await fileSystem.status(of: name, in: parent)
            } catch {
                if error.kind != .noEntry { problems.append("\(path): \(error.cause)") }
                return
            }
            do throws(FSError) {
                switch status.kind {
                case .subvolume:
                    do throws(FSError) {
                        try await fileSystem.deleteSubvolume(name, in: parent)
                        return
                    } catch where error.kind == .notEmpty {
                        // Nested subvolumes: below, depth first.
                    }
                    try await empty(name, in: parent, path: path, isSubvolume: true)
                    try await fileSystem.deleteSubvolume(name, in: parent)
                case .directory:
                    try await empty(name, in: parent, path: path, isSubvolume: false)
                    try await fileSystem.removeDirectory(name, in: parent)
                case .symlink, .file, .other:
                    try await fileSystem.unlink(name, in: parent)
                }
            } catch {
                problems.append("\(path): \(error.cause)")
            }
        }

        /// Removes what a directory holds; a subvolume's read-only flag is
        /// cleared first.
        mutating func empty(_ name: EntryName, in parent: DirectoryHandle, path: String, isSubvolume: Bool)
            async throws(FSError)
        {
            let directory = try await fileSystem.openDirectory(name, in: parent)
            do throws(FSError) {
                if isSubvolume, try await fileSystem.subvolumeInfo(of: directory).isReadOnly {
                    try await fileSystem.setReadOnly(false, of: directory)
                }
                for entry in try await fileSystem.list(directory) {
                    await remove(entry.name, in: directory, path: path + "/" + entry.name.rawValue)
                }
                await fileSystem.close(directory)
            } catch {
                await fileSystem.close(directory)
                throw error
            }
        }
    }
}
