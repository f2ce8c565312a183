import FSProtocol

/// A layout built and read back through the protocol: the same code on
/// the real filesystem and on a simulated one (the fuzzer's differential
/// runs build each tree on both).
///
/// What the protocol can make: plain directories, subvolumes (created,
/// snapshots of others, received from an empty send stream, read-only),
/// files, symbolic links, and their owners. A `volume` is made as a plain
/// directory (a mount is the administrator's, not the protocol's) and
/// reads back as `dir`; `mode=`, `default`, `fifo`, `mount` and `tmpfs`
/// cannot be made through it and are refused, and so is an absolute path
/// (outside the root).
///
/// The kernel refuses every change inside a read-only subvolume, so the
/// read-only flags are set in a last pass, deepest first, once every entry
/// is there: a subvolume may hold entries and nested subvolumes whatever
/// its flag. A received subvolume is the exception: the receive leaves it
/// read-only at once, so nothing can be made inside it.
extension Layout {
    /// A layout entry the protocol cannot make, or a call that failed.
    public struct BuildError: Error, Hashable, Sendable, CustomStringConvertible {
        public var path: String
        public var message: String

        public var description: String { "\(path): \(message)" }
    }

    /// Builds the entries below the root (which must exist), in order,
    /// through `fileSystem`, then sets the read-only flags of the
    /// subvolumes that have one (deepest first). A received subvolume gets
    /// a UUID from `receivedUUID` (called once per received entry).
    public func build(on fileSystem: any FileSystem, receivedUUID: () -> BtrfsUUID) async throws(BuildError) {
        let rootHandle: DirectoryHandle
        do throws(FSError) {
            rootHandle = try await fileSystem.openRoot(root)
        } catch {
            throw BuildError(path: root, message: error.cause)
        }
        do throws(BuildError) {
            for entry in entries { try await build(entry, under: rootHandle, on: fileSystem, receivedUUID: receivedUUID) }
            for entry in readOnlyLast {
                do throws(FSError) {
                    let subvolume = try await Self.open(entry.path, under: rootHandle, on: fileSystem)
                    do throws(FSError) {
                        try await fileSystem.setReadOnly(true, of: subvolume)
                        await fileSystem.close(subvolume)
                    } catch {
                        await fileSystem.close(subvolume)
                        throw error
                    }
                } catch {
                    throw BuildError(path: entry.path, message: error.cause)
                }
            }
            await fileSystem.close(rootHandle)
        } catch {
            await fileSystem.close(rootHandle)
            throw error
        }
    }

    /// The subvolumes made read-only after every entry is there (received
    /// ones are read-only from their receive on): the deepest first, so
    /// that no flag is set on a subvolume before those below it; entries of
    /// one depth in layout order.
    var readOnlyLast: [LayoutEntry] {
        var flagged: [(depth: Int, index: Int)] = []
        for (index, entry) in entries.enumerated() where entry.kind == .subvol && entry.readOnly && !entry.received {
            flagged.append((EntryName.components(of: entry.path).count, index))
        }
        flagged.sort { $0.depth != $1.depth ? $0.depth > $1.depth : $0.index < $1.index }
        return flagged.map { entries[$0.index] }
    }

    private func build(
        _ entry: LayoutEntry, under rootHandle: DirectoryHandle, on fs: any FileSystem, receivedUUID: () -> BtrfsUUID
    ) async throws(BuildError) {
        func refuse(_ message: String) -> BuildError { BuildError(path: entry.path, message: message) }
        guard !entry.path.startsWithBytes("/") else { throw refuse("an absolute path is outside the root") }
        switch entry.kind {
        case .fifo, .mount, .tmpfs: throw refuse("a \(entry.kind.rawValue) cannot be made through the protocol")
        default: break
        }
        if entry.mode != nil { throw refuse("mode= cannot be set through the protocol") }
        if entry.isDefault { throw refuse("the default subvolume cannot be set through the protocol") }
        var components = EntryName.components(of: entry.path).compactMap { EntryName(String($0)) }
        guard let name = components.popLast() else { throw refuse("no name") }
        var opened: [DirectoryHandle] = []
        func closeAll() async { for handle in opened.reversed() { await fs.close(handle) } }
        do throws(FSError) {
            var directory = rootHandle
            for component in components {
                // Missing parents are made as plain directories.
                do throws(FSError) {
                    try await fs.makeDirectory(component, in: directory)
                } catch where error.kind == .exists {}
                directory = try await fs.openDirectory(component, in: directory)
                opened.append(directory)
            }
            switch entry.kind {
            case .volume, .dir:
                try await fs.makeDirectory(name, in: directory)
            case .file:
                await fs.close(try await fs.openFile(name, in: directory, options: [.write, .create, .exclusive]))
            case .link:
                try await fs.createSymlink(name, in: directory, target: entry.target ?? "")
            case .subvol:
                if entry.received {
                    let header = SendStreamHeader(version: 1, name: name, uuid: receivedUUID(), transactionID: 1)
                    guard let stream = try? SendStream(prefix: SendStream.empty(header)) else {
                        throw FSError(.invalidArgument, .receive, name: name)
                    }
                    try await fs.receive(stream, in: directory)
                } else if let source = entry.snapshotOf {
                    let sourceHandle = try await Self.open(source, under: rootHandle, on: fs)
                    do throws(FSError) {
                        try await fs.snapshot(sourceHandle, as: name, in: directory, readOnly: false)
                        await fs.close(sourceHandle)
                    } catch {
                        await fs.close(sourceHandle)
                        throw error
                    }
                } else {
                    try await fs.createSubvolume(name, in: directory)
                }
            case .fifo, .mount, .tmpfs:
                break
            }
            if entry.owner != 0 || entry.group != 0 {
                try await fs.changeOwner(of: name, in: directory, owner: entry.owner, group: entry.group)
            }
            await closeAll()
        } catch {
            await closeAll()
            throw refuse(error.cause)
        }
    }

    /// Opens a directory below the root, one name at a time, following no
    /// link.
    static func open(_ path: String, under root: DirectoryHandle, on fs: any FileSystem) async throws(FSError)
        -> DirectoryHandle
    {
        var current: DirectoryHandle?
        for component in EntryName.components(of: path) {
            guard let name = EntryName(String(component)) else { throw FSError(.invalidArgument, .openDirectory) }
            let next = try await fs.openDirectory(name, in: current ?? root)
            if let current { await fs.close(current) }
            current = next
        }
        guard let current else { throw FSError(.invalidArgument, .openDirectory) }
        return current
    }

    /// The tree below `root` as the protocol sees it: every entry, depth
    /// first in byte order, with its kind, owner, a link's target, and a
    /// subvolume's read-only and received flags. Plain directories read
    /// back as `dir`, first-level ones too.
    public static func read(from fileSystem: any FileSystem, root: String) async throws(FSError) -> Layout {
        var layout = Layout(root: root)
        try await fileSystem.withRoot(root) { handle throws(FSError) in
            try await capture(handle, prefix: "", on: fileSystem, into: &layout)
        }
        return layout
    }

    private static func capture(
        _ directory: DirectoryHandle, prefix: String, on fs: any FileSystem, into layout: inout Layout
    ) async throws(FSError) {
        for listed in try await fs.list(directory) {
            let path = prefix.isEmpty ? listed.name.rawValue : prefix + "/" + listed.name.rawValue
            var entry: LayoutEntry
            switch listed.kind {
            case .directory: entry = LayoutEntry(.dir, path)
            case .subvolume: entry = LayoutEntry(.subvol, path)
            case .file: entry = LayoutEntry(.file, path)
            case .symlink:
                entry = LayoutEntry(.link, path)
                entry.target = try await fs.readLink(listed.name, in: directory)
            case .other: entry = LayoutEntry(.fifo, path)
            }
            entry.owner = listed.status.owner
            entry.group = listed.status.group
            if listed.kind.isDirectory {
                let child = try await fs.openDirectory(listed.name, in: directory)
                do throws(FSError) {
                    if listed.kind == .subvolume {
                        let info = try await fs.subvolumeInfo(of: child)
                        entry.readOnly = info.isReadOnly
                        entry.received = !info.receivedUUID.isZero
                    }
                    layout.entries.append(entry)
                    try await capture(child, prefix: path, on: fs, into: &layout)
                    await fs.close(child)
                } catch {
                    await fs.close(child)
                    throw error
                }
            } else {
                layout.entries.append(entry)
            }
        }
    }
}
