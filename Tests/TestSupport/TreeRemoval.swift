import FSProtocol

/// Removes a test's tree through the protocol: links and files unlinked
/// (never followed), subvolumes made writable and deleted after their
/// contents, plain directories removed.
public enum TreeRemoval {
    public static func remove(_ path: String, with fs: any FileSystem) async {
        let components = EntryName.components(of: path)
        guard let name = components.last.flatMap({ EntryName(String($0)) }),
            let parent = try? await fs.openRoot("/" + components.dropLast().joined(separator: "/"))
        else { return }
        await removeEntry(name, in: parent, with: fs)
        await fs.close(parent)
    }

    static func removeEntry(_ name: EntryName, in parent: DirectoryHandle, with fs: any FileSystem) async {
        guard let status = try? await fs.status(of: name, in: parent) else { return }
        guard status.kind.isDirectory else {
            try? await fs.unlink(name, in: parent)
            return
        }
        guard let directory = try? await fs.openDirectory(name, in: parent) else { return }
        if status.kind == .subvolume { try? await fs.setReadOnly(false, of: directory) }
        for entry in (try? await fs.list(directory)) ?? [] {
            await removeEntry(entry.name, in: directory, with: fs)
        }
        await fs.close(directory)
        if status.kind == .subvolume {
            try? await fs.deleteSubvolume(name, in: parent)
        } else {
            try? await fs.removeDirectory(name, in: parent)
        }
    }
}
