import FSProtocol
import MachineLayout

extension SimulatedHost {
    /// A host holding a layout's tree.
    public convenience init(layout: Layout) throws(SetupError) {
        self.init()
        try load(layout)
    }

    /// Builds a layout's tree on this host; an error names the entry's
    /// layout line when the layout was read from text.
    public func load(_ layout: Layout, maximumEntries: Int = maximumLayoutEntries) throws(SetupError) {
        state.withLock { $0.setupParents = [:] }
        defer { state.withLock { $0.setupParents = nil } }
        if layout.rootIsBtrfs {
            try addVolume(layout.root)
        } else if entryKind(at: layout.root) == nil {
            try addDirectory(layout.root)
        }
        var defaults: Set<Int> = []
        var volumes: Set<ExactText> = []
        for (index, entry) in layout.entries.enumerated() {
            do throws(SetupError) {
                try load(entry, of: layout, maximumEntries: maximumEntries, defaults: &defaults, volumes: &volumes)
                // Parents made on the way count too (a line of 2,000
                // components makes up to 2,000 directories).
                if state.withLock({ $0.nodePositions }) > maximumEntries {
                    throw SetupError(
                        path: layout.absolutePath(entry.path),
                        reason: "the tree would hold more than \(maximumEntries) entries, the most a layout may build")
                }
            } catch {
                var located = error
                located.line = layout.sourceLine(ofEntry: index)
                throw located
            }
        }
    }

    /// Loads one entry; `volumes` holds the first-level paths known to be
    /// there already.
    private func load(
        _ entry: LayoutEntry, of layout: Layout, maximumEntries: Int, defaults: inout Set<Int>,
        volumes: inout Set<ExactText>
    ) throws(SetupError) {
        let path = layout.absolutePath(entry.path)
        if !layout.rootIsBtrfs, !entry.path.startsWithBytes("/"),
            let slash = entry.path.utf8.firstIndex(of: UInt8(ascii: "/"))
        {
            let first = String(Substring(entry.path.utf8[..<slash]))
            if !volumes.contains(ExactText(first)) {
                let volume = layout.absolutePath(first)
                if entryKind(at: volume) == nil { try addVolume(volume) }
                volumes.insert(ExactText(first))
            }
        }
        if [.volume, .tmpfs, .mount].contains(entry.kind) { try checkMountPoint(path) }
        switch entry.kind {
        case .volume:
            try addVolume(
                path, owner: entry.owner, group: entry.group,
                userSubvolumeRemovalAllowed: entry.userSubvolumeRemovalAllowed)
        case .tmpfs:
            try addTmpfs(path)
        case .dir:
            try addDirectory(path, owner: entry.owner, group: entry.group, permissions: entry.mode ?? 0o755)
        case .subvol:
            if let source = entry.snapshotOf {
                try checkSnapshotSize(of: layout.absolutePath(source), at: path, limit: maximumEntries)
                try addSnapshot(of: layout.absolutePath(source), at: path, readOnly: entry.readOnly)
                try checkPathLengths(below: path)
                try setAttributes(path, owner: entry.owner, group: entry.group, permissions: entry.mode)
            } else {
                try addSubvolume(
                    path, readOnly: entry.readOnly, received: entry.received, owner: entry.owner,
                    group: entry.group)
                if let mode = entry.mode { try setAttributes(path, owner: nil, group: nil, permissions: mode) }
            }
            if entry.isDefault {
                // A filesystem has one default subvolume: a second would
                // silently take the first one's place.
                if let filesystem = filesystemIndex(at: path), !defaults.insert(filesystem).inserted {
                    throw SetupError(path: path, reason: "another subvolume of this filesystem is already its default")
                }
                try setDefaultSubvolume(path)
            }
        case .file:
            try addFile(path, owner: entry.owner, group: entry.group)
            if let mode = entry.mode { try setAttributes(path, owner: nil, group: nil, permissions: mode) }
        case .link:
            try addSymlink(path, target: entry.target ?? "", owner: entry.owner, group: entry.group)
        case .fifo:
            try addSpecial(path)
        case .mount:
            try addMount(path)
        }
    }

    /// A snapshot copies its source's directories: placed deeper than they
    /// go (inside its own source, say), it would hold paths longer than a
    /// layout may write (PATH_MAX), so the tree could not be captured and
    /// loaded back. Refused like a path written too long.
    private func checkPathLengths(below path: String) throws(SetupError) {
        let longest = state.withLock { state in
            state.setupLookupNoFollow(path).flatMap { state.longestPath(below: state.crossingMounts($0), prefix: 0) }
        }
        guard let longest else { return }
        let length = path.utf8.count + 1 + longest
        if length > Layout.maximumPathBytes {
            throw SetupError(
                path: path,
                reason: "the snapshot would hold a path \(length) bytes long (at most \(Layout.maximumPathBytes))")
        }
    }

    /// At most this many entries (nodes, the filesystems' roots included)
    /// in a tree a layout builds. A snapshot copies what its source holds:
    /// a thousand snapshots of a directory of 20,000 entries, 500 KB of
    /// layout, would ask for twenty million nodes, gigabytes, until the
    /// allocator gave up; and a line makes its missing parents (up to
    /// 2,048 of them), so 16 MiB of lines could ask for millions too. A
    /// snapshot is refused before its copy, any other line once made.
    public static let maximumLayoutEntries = 2_000_000

    /// Refuses a snapshot whose copy would take the tree past `limit`
    /// entries.
    private func checkSnapshotSize(of source: String, at path: String, limit: Int) throws(SetupError) {
        let tooMany = state.withLock { state in
            let room = max(0, limit - state.nodePositions)
            // The snapshot's own root, and a copy of each entry below its
            // source.
            let copied = 1 + (state.setupLookup(source).map { state.entryCount(below: $0, upTo: room) } ?? 0)
            return copied > room
        }
        if tooMany {
            throw SetupError(
                path: path,
                reason: "the snapshot would take the tree past \(limit) entries, the most a layout may build "
                    + "(a snapshot copies what its source holds)")
        }
    }

    /// A layout's mount goes on a new or empty directory that is not
    /// already a mount point: one over entries (written before it, or the
    /// machines root below it) would hide them, one over another mount
    /// would stack on it.
    private func checkMountPoint(_ path: String) throws(SetupError) {
        try state.withLock { (state: inout HostState) throws(SetupError) in
            guard let ref = state.setupLookup(path) else { return }
            if state.mountedOn[ref] != nil { throw SetupError(path: path, reason: "already a mount point") }
            let count = state.node(ref).children.count
            if count > 0 {
                throw SetupError(path: path, reason: "not empty: a mount here would hide what is below it (\(count) entries)")
            }
        }
    }

    /// Sets owner, group and permissions of an entry during setup.
    public func setAttributes(_ path: String, owner: UInt32?, group: UInt32?, permissions: UInt16?) throws(SetupError) {
        try state.withLock { (state: inout HostState) throws(SetupError) in
            let (directory, name) = try state.setupParent(path)
            guard let child = state.child(name, of: directory) else { throw SetupError(path: path, reason: "missing") }
            state.updateNode(state.crossingMounts(child)) { node in
                if let owner { node.owner = owner }
                if let group { node.group = group }
                if let permissions { node.permissions = permissions }
            }
            state.markSetupPending()
        }
    }

    /// The kind of the entry at an absolute path (not following a final
    /// link), or nil when there is none.
    public func entryKind(at path: String) -> EntryKind? {
        state.withLock { state in
            state.setupLookupNoFollow(path).map { state.kind(of: state.crossingMounts($0)) }
        }
    }

    /// The target of the link at an absolute path.
    public func linkTarget(at path: String) -> String? {
        state.withLock { state in
            guard let ref = state.setupLookupNoFollow(path), state.node(ref).type == .symlink else { return nil }
            return state.node(ref).linkTarget
        }
    }

    /// What btrfs would report for the subvolume at an absolute path.
    public func subvolumeInfo(at path: String) -> SubvolumeInfo? {
        state.withLock { state in
            guard let ref = state.setupLookupNoFollow(path).map(state.crossingMounts), state.isSubvolumeRoot(ref)
            else { return nil }
            let subvolume = state.subvolume(of: ref)
            return SubvolumeInfo(
                id: subvolume.id, parentID: subvolume.parentSubvolume, uuid: subvolume.uuid,
                parentUUID: subvolume.parentUUID, receivedUUID: subvolume.receivedUUID,
                isReadOnly: subvolume.isReadOnly)
        }
    }

    /// The index of the filesystem holding the entry at an absolute path.
    public func filesystemIndex(at path: String) -> Int? {
        state.withLock { state in state.setupLookupNoFollow(path).map { state.crossingMounts($0).filesystem } }
    }

    /// The names in the directory at an absolute path, sorted.
    public func names(at path: String) -> [EntryName]? {
        state.withLock { state in
            guard let ref = state.setupLookupNoFollow(path).map(state.crossingMounts),
                state.node(ref).type == .directory
            else { return nil }
            return state.node(ref).children.keys.sorted()
        }
    }

    /// The tree below `root` as a layout: every entry, in sorted order.
    public func layout(root: String = Layout.defaultRoot) -> Layout {
        state.withLock { state in
            var layout = Layout(root: root)
            guard let rootRef = state.setupLookupNoFollow(root) else { return layout }
            if let mount = state.mounts[rootRef] {
                if state.filesystems[mount.root.filesystem].isBtrfs {
                    layout.rootIsBtrfs = true
                } else {
                    // The root is a tmpfs (or a mount) of its own: said,
                    // so that the layout loads back into the same tree.
                    layout.entries.append(LayoutEntry(mount.isPersistent ? .tmpfs : .mount, root))
                }
            }
            state.capture(state.crossingMounts(rootRef), prefix: "", into: &layout)
            return layout
        }
    }
}

extension HostState {
    /// The node positions of every filesystem: the nodes, and the holes
    /// removed ones left (none while a layout loads).
    var nodePositions: Int { filesystems.reduce(0) { $0 + $1.nodes.positions } }

    /// The node at an absolute path; intermediate components cross mounts,
    /// the last one is returned as it is (a mount point stays the covered
    /// directory, a link stays the link).
    func setupLookupNoFollow(_ path: String) -> NodeRef? {
        var current = NodeRef(filesystem: rootFilesystem, node: filesystems[rootFilesystem].root)
        for component in EntryName.components(of: path) {
            let directory = crossingMounts(current)
            guard node(directory).type == .directory, let name = EntryName(String(component)),
                let child = child(name, of: directory)
            else { return nil }
            current = child
        }
        return current
    }

    /// The entries below `directory` on its own filesystem (a mount's
    /// are not a snapshot's to copy), counted up to `limit`.
    func entryCount(below directory: NodeRef, upTo limit: Int) -> Int {
        var count = 0
        var pending = [directory]
        while let next = pending.popLast(), count < limit {
            for (_, id) in node(next).children {
                count += 1
                let child = NodeRef(filesystem: next.filesystem, node: id)
                if node(child).type == .directory { pending.append(child) }
            }
        }
        return count
    }

    /// The byte length of the longest path `capture` would write below
    /// `directory` (`prefix`: the length of the path written for it, 0 at
    /// the top), without writing the paths; nil when it holds nothing.
    func longestPath(below directory: NodeRef, prefix: Int) -> Int? {
        var longest: Int?
        for (name, id) in node(directory).children {
            let length = prefix == 0 ? name.rawValue.utf8.count : prefix + 1 + name.rawValue.utf8.count
            let ref = crossingMounts(NodeRef(filesystem: directory.filesystem, node: id))
            let below = node(ref).type == .directory ? longestPath(below: ref, prefix: length) : nil
            longest = max(longest ?? 0, below ?? length)
        }
        return longest
    }

    func capture(_ directory: NodeRef, prefix: String, into layout: inout Layout) {
        for (name, id) in node(directory).children.sorted(by: { $0.key < $1.key }) {
            let covered = NodeRef(filesystem: directory.filesystem, node: id)
            let path = prefix.isEmpty ? name.rawValue : prefix + "/" + name.rawValue
            let ref = crossingMounts(covered)
            let node = node(ref)
            var entry: LayoutEntry
            if let mount = mounts[covered] {
                // A mount on an (empty) subvolume: the subvolume first, so
                // that the layout loads back with it under the mount.
                if isSubvolumeRoot(covered) { layout.entries.append(plainEntry(covered, path)) }
                let fs = filesystems[mount.root.filesystem]
                if !mount.isPersistent {
                    entry = LayoutEntry(.mount, path)
                } else if fs.isBtrfs {
                    entry = LayoutEntry(.volume, path)
                    entry.userSubvolumeRemovalAllowed = fs.userSubvolumeRemovalAllowed
                } else {
                    entry = LayoutEntry(.tmpfs, path)
                }
                if mount.isPersistent, fs.isBtrfs {
                    entry.owner = node.owner
                    entry.group = node.group
                }
            } else {
                entry = plainEntry(ref, path)
            }
            layout.entries.append(entry)
            if node.type == .directory { capture(ref, prefix: path, into: &layout) }
        }
    }

    /// The entry of a node that is no mount point, with its flags.
    func plainEntry(_ ref: NodeRef, _ path: String) -> LayoutEntry {
        let node = node(ref)
        var entry: LayoutEntry
        let defaultMode: UInt16
        switch kind(of: ref) {
        case .subvolume:
            entry = LayoutEntry(.subvol, path)
            let subvolume = subvolume(of: ref)
            entry.readOnly = subvolume.isReadOnly
            entry.received = !subvolume.receivedUUID.isZero
            entry.isDefault = filesystems[ref.filesystem].defaultSubvolume == subvolume.id
            defaultMode = 0o755
        case .directory:
            entry = LayoutEntry(.dir, path)
            defaultMode = 0o755
        case .file:
            entry = LayoutEntry(.file, path)
            defaultMode = 0o644
        case .symlink:
            entry = LayoutEntry(.link, path)
            entry.target = node.linkTarget
            defaultMode = 0o777
        case .other:
            entry = LayoutEntry(.fifo, path)
            defaultMode = node.permissions
        }
        entry.owner = node.owner
        entry.group = node.group
        if node.permissions != defaultMode { entry.mode = node.permissions }
        return entry
    }
}
