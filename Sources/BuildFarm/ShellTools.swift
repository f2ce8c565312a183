import FSProtocol

/// What the command-line tools an agent or an administrator shells out to
/// do, expressed over the protocol: they take paths, follow symbolic links
/// in them, and treat an existing directory as a place to put things in.
/// Conformance tests pin each against the real tool.
public enum ShellTools {
    /// `btrfs subvolume snapshot SOURCE DEST`: when DEST exists and is a
    /// directory (a subvolume too), the snapshot goes inside it under the
    /// source's name, and the command succeeds.
    public static func snapshot(
        _ source: EntryName, to destination: EntryName, in directory: DirectoryHandle, on fs: any FileSystem,
        readOnly: Bool = false
    ) async throws(FSError) {
        try await fs.withDirectory(source, in: directory) { sourceHandle throws(FSError) in
            let existing = try? await fs.status(of: destination, in: directory)
            if let existing, existing.kind.isDirectory {
                try await fs.withDirectory(destination, in: directory) { inside throws(FSError) in
                    try await fs.snapshot(sourceHandle, as: source, in: inside, readOnly: readOnly)
                }
            } else {
                try await fs.snapshot(sourceHandle, as: destination, in: directory, readOnly: readOnly)
            }
        }
    }

    /// The name a path-based tool ends up acting on: a link in the
    /// directory is followed (once, to a name in the same directory), and
    /// the journal hears of it.
    public static func resolve(
        _ name: EntryName, in directory: DirectoryHandle, on fs: any FileSystem, journal: (String) -> Void
    ) async -> EntryName {
        guard let status = try? await fs.status(of: name, in: directory), status.kind == .symlink,
            let target = try? await fs.readLink(name, in: directory), let resolved = EntryName(target)
        else { return name }
        journal(name.rawValue)
        return resolved
    }
}
