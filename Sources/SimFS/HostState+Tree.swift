import FSProtocol

/// Reading the tree: nodes, lookups, statuses, paths and permissions.
extension HostState {
    typealias Kind = FSError.Kind

    func node(_ ref: NodeRef) -> Node {
        guard let node = filesystems[ref.filesystem].nodes[ref.node] else {
            preconditionFailure("dangling node reference \(ref)")
        }
        return node
    }

    func nodeIfPresent(_ ref: NodeRef) -> Node? {
        filesystems[ref.filesystem].nodes[ref.node]
    }

    /// Changes a node's attributes (not its entries or contents).
    mutating func updateNode(_ ref: NodeRef, _ body: (inout Node) -> Void) {
        filesystems[ref.filesystem].updateAttributes(ref.node, body)
    }

    func subvolume(_ filesystem: Int, _ id: SubvolumeID) -> SubvolumeState {
        guard let subvolume = filesystems[filesystem].subvolumes[id] else {
            preconditionFailure("unknown subvolume \(id) on filesystem \(filesystem)")
        }
        return subvolume
    }

    /// The subvolume a node lives in.
    func subvolume(of ref: NodeRef) -> SubvolumeState {
        subvolume(ref.filesystem, node(ref).subvolume)
    }

    func isSubvolumeRoot(_ ref: NodeRef) -> Bool {
        guard filesystems[ref.filesystem].isBtrfs, let node = filesystems[ref.filesystem].nodes[ref.node],
            node.type == .directory
        else { return false }
        return node.inode == subvolumeRootInode
    }

    /// The mounted root when `ref` is covered by a mount, else `ref`.
    func crossingMounts(_ ref: NodeRef) -> NodeRef {
        var current = ref
        while let mount = mounts[current] { current = mount.root }
        return current
    }

    /// The child `name` of a directory, not crossing a mount on it. In a
    /// deleted subvolume every lookup fails, as btrfs answers through a
    /// descriptor that outlived the delete.
    func child(_ name: EntryName, of directory: NodeRef) -> NodeRef? {
        let node = node(directory)
        guard node.isAttached || !isInDeletedSubvolume(directory), let id = node.children[name] else { return nil }
        return NodeRef(filesystem: directory.filesystem, node: id)
    }

    func isInDeletedSubvolume(_ ref: NodeRef) -> Bool {
        filesystems[ref.filesystem].subvolumes[node(ref).subvolume]?.isDeleted ?? false
    }

    func kind(of ref: NodeRef) -> EntryKind {
        let node = node(ref)
        switch node.type {
        case .directory:
            return filesystems[ref.filesystem].isBtrfs && node.inode == subvolumeRootInode ? .subvolume : .directory
        case .file: return .file
        case .symlink: return .symlink
        case .special: return .other
        }
    }

    func status(of ref: NodeRef) -> EntryStatus {
        let node = node(ref)
        let kind: EntryKind =
            switch node.type {
            case .directory:
                filesystems[ref.filesystem].isBtrfs && node.inode == subvolumeRootInode ? .subvolume : .directory
            case .file: .file
            case .symlink: .symlink
            case .special: .other
            }
        return EntryStatus(
            kind: kind, identity: FileIdentity(device: node.device, inode: node.inode), owner: node.owner,
            group: node.group, permissions: node.permissions)
    }

    /// The absolute path of a node, through the mounts above it. A node cut
    /// from the tree gets ` (deleted)` appended, as `/proc` shows it.
    func path(of ref: NodeRef) -> String {
        var components: [String] = []
        var current = ref
        var attached = true
        while true {
            let node = node(current)
            if !node.isAttached { attached = false }
            if current.node == filesystems[current.filesystem].root {
                guard let covered = mountedOn[current] else { break }
                current = covered
                continue
            }
            guard let parent = node.parent else { break }
            components.append(node.name?.rawValue ?? "?")
            current = NodeRef(filesystem: current.filesystem, node: parent)
        }
        let path = "/" + components.reversed().joined(separator: "/")
        return attached ? path : path + " (deleted)"
    }

    /// The path of `name` inside a directory.
    func path(of name: EntryName, in directory: NodeRef) -> String {
        let base = path(of: directory)
        return base == "/" ? "/" + name.rawValue : base + "/" + name.rawValue
    }

    /// Whether `ancestor` is `ref` or one of the directories above it on
    /// the same filesystem.
    func isWithin(_ ref: NodeRef, _ ancestor: NodeRef) -> Bool {
        guard ref.filesystem == ancestor.filesystem else { return false }
        var current: NodeID? = ref.node
        while let id = current {
            if id == ancestor.node { return true }
            current = filesystems[ref.filesystem].nodes[id]?.parent
        }
        return false
    }

    // MARK: Permissions

    struct Access: OptionSet {
        let rawValue: UInt16
        static let read = Access(rawValue: 4)
        static let write = Access(rawValue: 2)
        static let search = Access(rawValue: 1)
    }

    /// The permission-bit check of `generic_permission`; root passes.
    func permits(_ credentials: Credentials, _ access: Access, on ref: NodeRef) -> Bool {
        if credentials.isRoot { return true }
        let node = node(ref)
        let bits: UInt16
        if credentials.user == node.owner {
            bits = (node.permissions >> 6) & 7
        } else if credentials.group == node.group {
            bits = (node.permissions >> 3) & 7
        } else {
            bits = node.permissions & 7
        }
        return bits & access.rawValue == access.rawValue
    }

    /// The checks before changing a directory's entries: a deleted
    /// directory gives `noEntry`, a read-only subvolume `readOnly` (also for
    /// root), missing write permission `accessDenied`.
    func checkModifiable(_ directory: NodeRef, by credentials: Credentials) throws(Kind) {
        let node = node(directory)
        if !node.isAttached { throw .noEntry }
        if filesystems[directory.filesystem].isBtrfs, subvolume(of: directory).isReadOnly { throw .readOnly }
        if !permits(credentials, [.write, .search], on: directory) { throw .accessDenied }
    }

    /// A snapshot's stand-in for a nested subvolume takes no entry: past
    /// the permission checks a directory makes (not the read-only
    /// subvolume's, which are btrfs's own), the call fails with `kind`.
    func refuseEntries(in directory: NodeRef, by credentials: Credentials, with kind: Kind) throws(Kind) {
        guard node(directory).isStandIn else { return }
        if !permits(credentials, [.write, .search], on: directory) { throw .accessDenied }
        throw kind
    }

    /// In a sticky directory (mode 1000, as `/tmp`) only root, the
    /// directory's owner and the entry's own owner remove or move an entry
    /// (EPERM).
    func checkSticky(_ entry: NodeRef, in directory: NodeRef, by credentials: Credentials) throws(Kind) {
        guard !credentials.isRoot, node(directory).permissions & 0o1000 != 0 else { return }
        if credentials.user != node(directory).owner, credentials.user != node(entry).owner { throw .notPermitted }
    }

    /// The checks before looking a name up in a directory.
    func checkSearchable(_ directory: NodeRef, by credentials: Credentials) throws(Kind) {
        if !permits(credentials, .search, on: directory) { throw .accessDenied }
    }

    // MARK: Processes and descriptors

    func process(_ pid: Int32) throws(Kind) -> ProcessState {
        guard let process = processes[pid], process.isAlive else { throw .badDescriptor }
        return process
    }

    func description(_ pid: Int32, _ descriptor: Int32) throws(Kind) -> OpenDescription {
        guard let open = try process(pid).descriptors[descriptor] else { throw .badDescriptor }
        return open
    }

    func directory(_ pid: Int32, _ handle: DirectoryHandle) throws(Kind) -> NodeRef {
        let open = try description(pid, handle.descriptor)
        guard open.isDirectory else { throw .notDirectory }
        return open.node
    }

    func file(_ pid: Int32, _ handle: FileHandle) throws(Kind) -> OpenDescription {
        let open = try description(pid, handle.descriptor)
        guard !open.isDirectory else { throw .badDescriptor }
        return open
    }

    /// Opens a node for a process: the lowest free descriptor from 3, as
    /// the kernel hands them out.
    mutating func open(_ ref: NodeRef, for pid: Int32, isDirectory: Bool, isWritable: Bool) -> Int32 {
        var descriptor: Int32 = 3
        while processes[pid]?.descriptors[descriptor] != nil { descriptor += 1 }
        let open = OpenDescription(
            id: nextOpenDescription, node: ref, isDirectory: isDirectory, isWritable: isWritable)
        nextOpenDescription += 1
        processes.update(pid) { $0.descriptors[descriptor] = open }
        openCounts[ref, default: 0] += 1
        return descriptor
    }

    /// Closes a descriptor; false when it was not open (a double close,
    /// which on a real host could close somebody else's descriptor).
    @discardableResult
    mutating func closeDescriptor(_ descriptor: Int32, of pid: Int32) -> Bool {
        guard let open = processes[pid]?.descriptors[descriptor] else { return false }
        processes.update(pid) { $0.descriptors.removeValue(forKey: descriptor) }
        if let count = openCounts[open.node] { openCounts[open.node] = count > 1 ? count - 1 : nil }
        // Only files are locked (`tryLock` takes a file handle).
        if !open.isDirectory, locks[open.node] == open.id { locks[open.node] = nil }
        return true
    }

    // MARK: Allocation

    mutating func allocateNode(_ node: Node, on filesystem: Int) -> NodeID {
        filesystems[filesystem].addNode(node)
    }

    mutating func nextInode(on filesystem: Int, in subvolume: SubvolumeID) -> UInt64 {
        var inode: UInt64 = 0
        filesystems[filesystem].updateSubvolume(subvolume) {
            inode = $0.nextInode
            $0.nextInode += 1
        }
        return inode
    }

    mutating func allocateDevice() -> UInt64 {
        defer { nextDevice += 1 }
        return nextDevice
    }

    /// A fresh UUID, derived from a counter so that runs repeat exactly.
    mutating func allocateUUID(on filesystem: Int) -> BtrfsUUID {
        uuidCounter += 1
        return BtrfsUUID(high: filesystems[filesystem].uuidSeed, low: 0x5eed_0000_0000_0000 | uuidCounter)
    }

    /// Notes an effect of the current call for the observer. Callers test
    /// `isRecordingEffects` first, so that paths are only computed when
    /// somebody listens.
    mutating func record(_ effect: SimulatedEffect) {
        effects.append(effect)
    }

    func subvolumeRecord(for ref: NodeRef) -> SubvolumeRecord {
        SubvolumeRecord(filesystem: ref.filesystem, id: node(ref).subvolume, path: path(of: ref))
    }
}
