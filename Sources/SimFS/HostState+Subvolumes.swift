import FSProtocol

/// The btrfs calls, with the checks in the order the kernel makes them.
extension HostState {
    /// A btrfs call on another filesystem: the kernel does not know its
    /// ioctl (ENOTTY, `notSupported`); the libbtrfsutil calls that look
    /// at the filesystem first (a subvolume's information, the nested
    /// subvolumes) say `notBtrfs` instead.
    func requireBtrfs(_ ref: NodeRef, else kind: Kind = .notSupported) throws(Kind) {
        if !filesystems[ref.filesystem].isBtrfs { throw kind }
    }

    /// The checks of a btrfs ioctl on a directory's descriptor: as
    /// `requireBtrfs`, and ENOTTY on a snapshot's stand-in for a nested
    /// subvolume, whose operations are not btrfs's.
    func requireBtrfs(ioctlOn directory: NodeRef) throws(Kind) {
        try requireBtrfs(directory)
        if node(directory).isStandIn { throw .notSupported }
    }

    func subvolumeInfo(_ pid: Int32, _ handle: DirectoryHandle) throws(Kind) -> SubvolumeInfo {
        let directory = try directory(pid, handle)
        try requireBtrfs(directory, else: .notBtrfs)
        // libbtrfsutil wants the subvolume's root for its information.
        guard isSubvolumeRoot(directory) else { throw .invalidArgument }
        return try containingSubvolumeInfo(directory)
    }

    func containingSubvolumeInfo(_ directory: NodeRef) throws(Kind) -> SubvolumeInfo {
        let subvolume = subvolume(of: directory)
        return SubvolumeInfo(
            id: subvolume.id, parentID: subvolume.isDeleted ? nil : subvolume.parentSubvolume,
            uuid: subvolume.uuid, parentUUID: subvolume.parentUUID, receivedUUID: subvolume.receivedUUID,
            isReadOnly: subvolume.isReadOnly)
    }

    /// The longest path of directories (each name with its slash) from a
    /// subvolume's root to the directory holding a nested one that the
    /// kernel's lookup gives back: `BTRFS_INO_LOOKUP_PATH_MAX` (4080)
    /// less one for root's iterator; for a user's walk,
    /// `BTRFS_INO_LOOKUP_USER_PATH_MAX` (4080 - 255 - 1) less one.
    static let longestLookupPath = (root: 4079, user: 3823)

    /// The subvolumes below the handle's subvolume, deepest first; siblings
    /// by id, as the iterator walks the root references. For each nested
    /// subvolume `S` at `d1/…/dk/S` in the subvolume `T` being walked:
    /// - The kernel's lookup gives back `d1/…/dk/`; a longer one than
    ///   `longestLookupPath` fails the listing (ENAMETOOLONG), for root and
    ///   for a user alike.
    /// - Root's iterator searches the tree of roots and sees every one.
    /// - A user's walk (RealFS's own, `buildos_nested_user`: libbtrfsutil's
    ///   closes the descriptor it is given) leaves out `S`, and what it
    ///   holds, when `BTRFS_IOC_INO_LOOKUP_USER` refuses it (for k ≥ 1 it
    ///   wants read and search on `T`'s root and `d1` to `d(k-1)`, not on
    ///   `dk`), or the open of that path does (search on `T`'s root and
    ///   every `di`, read on `S`), or that open would cross a mount (on a
    ///   `di` or on `S`). The lookup checks the length and the permissions
    ///   component by component from `dk` up, before the open.
    ///
    /// The lookup's permissions are as measured on the kernel here (6.18):
    /// the directory above each component, as after the 2025 change
    /// "btrfs: don't search back for dir inode item in INO_LOOKUP_USER".
    /// A kernel without it checks each component itself, `dk` to `d1`, and
    /// not `T`'s root; `NestedListingConformance` pins this kernel's.
    func nestedSubvolumes(_ pid: Int32, _ handle: DirectoryHandle) throws(Kind) -> [NestedSubvolume] {
        let credentials = try process(pid).credentials
        let directory = try directory(pid, handle)
        try requireBtrfs(directory, else: .notBtrfs)
        guard isSubvolumeRoot(directory) else { throw .invalidArgument }
        let filesystem = directory.filesystem
        let top = node(directory).subvolume
        var result: [NestedSubvolume] = []
        func root(of id: SubvolumeID) -> NodeRef? {
            filesystems[filesystem].subvolumes[id].map { NodeRef(filesystem: filesystem, node: $0.root) }
        }
        /// `d1` to `dk`: the directories from the outer subvolume's root
        /// (not included) down to the one holding the nested subvolume.
        func directories(holding child: NodeRef, below outer: NodeRef) -> [NodeRef] {
            var found: [NodeRef] = []
            var current = node(child).parent
            while let id = current, id != outer.node {
                let ref = NodeRef(filesystem: filesystem, node: id)
                found.append(ref)
                current = node(ref).parent
            }
            return found.reversed()
        }
        let longest = credentials.isRoot ? Self.longestLookupPath.root : Self.longestLookupPath.user
        /// Whether the walk reaches `child` from `outer`; ENAMETOOLONG for a
        /// path the lookup cannot give back.
        func reaches(_ child: SubvolumeID, from outer: SubvolumeID) throws(Kind) -> Bool {
            guard let outerRoot = root(of: outer), let childRoot = root(of: child) else { return credentials.isRoot }
            let path = directories(holding: childRoot, below: outerRoot)
            // The lookup goes up from `dk`: each name with its slash counts
            // against its buffer, and a user needs read and search on the
            // directory above it (`d(j-1)`, or the walked subvolume's root).
            var length = 0
            for index in path.indices.reversed() {
                length += (node(path[index]).name?.rawValue.utf8.count ?? 0) + 1
                if length > longest { throw .other(errno: 36) }  // ENAMETOOLONG
                if !credentials.isRoot, !permits(credentials, [.read, .search], on: index > 0 ? path[index - 1] : outerRoot) {
                    return false
                }
            }
            if credentials.isRoot { return true }
            // Then the open of `d1/…/dk/S`, through no mount.
            let opened =
                permits(credentials, .search, on: outerRoot)
                && path.allSatisfy { permits(credentials, .search, on: $0) }
                && permits(credentials, .read, on: childRoot)
            let elsewhere = (path + [childRoot]).contains { mounts[$0] != nil }
            return opened && !elsewhere
        }
        func visit(_ id: SubvolumeID) throws(Kind) {
            for child in (filesystems[filesystem].nested[id] ?? []).sorted() where try reaches(child, from: id) {
                try visit(child)
                let path = relativePath(of: child, below: top, on: directory.filesystem)
                result.append(NestedSubvolume(path: path.text, id: child, isExact: path.isExact))
            }
        }
        try visit(top)
        return result
    }

    /// The path of a subvolume's root from the root of an outer subvolume,
    /// and whether it is exact (no component a rendering of bytes that
    /// are not UTF-8).
    func relativePath(of id: SubvolumeID, below top: SubvolumeID, on filesystem: Int) -> (text: String, isExact: Bool) {
        let stop = filesystems[filesystem].subvolumes[top]?.root
        var components: [String] = []
        var isExact = true
        var current: NodeID? = filesystems[filesystem].subvolumes[id]?.root
        while let nodeID = current, nodeID != stop, let node = filesystems[filesystem].nodes[nodeID] {
            components.append(node.name?.rawValue ?? "?")
            if node.name?.isExact == false { isExact = false }
            current = node.parent
        }
        return (components.reversed().joined(separator: "/"), isExact)
    }

    mutating func createSubvolume(_ pid: Int32, _ name: EntryName, _ handle: DirectoryHandle) throws(Kind) {
        let credentials = try process(pid).credentials
        let directory = try directory(pid, handle)
        try requireBtrfs(ioctlOn: directory)
        if child(name, of: directory) != nil { throw .exists }
        try checkModifiable(directory, by: credentials)
        let ref = addSubvolume(
            named: name, in: directory, owner: credentials.user, group: credentials.group, permissions: 0o755)
        if isRecordingEffects {
            let effect: SimulatedEffect = .createdSubvolume(subvolumeRecord(for: ref), sourceID: nil)
            record(effect)
        }
    }

    /// A new empty subvolume in a directory; no checks.
    @discardableResult
    mutating func addSubvolume(
        named name: EntryName, in directory: NodeRef, owner: UInt32, group: UInt32, permissions: UInt16
    ) -> NodeRef {
        let filesystem = directory.filesystem
        let id = filesystems[filesystem].allocateSubvolumeID()
        let device = allocateDevice()
        let root = Node(
            type: .directory, parent: nil, subvolume: id, device: device, inode: subvolumeRootInode, owner: owner,
            group: group, permissions: permissions)
        let ref = attach(root, named: name, in: directory)
        let uuid = allocateUUID(on: filesystem)
        filesystems[filesystem].setSubvolume(
            SubvolumeState(
                id: id, root: ref.node, uuid: uuid, parentUUID: .zero, receivedUUID: .zero, isReadOnly: false,
                device: device, parentSubvolume: node(directory).subvolume))
        linkSubvolume(id, below: node(directory).subvolume, on: filesystem)
        return ref
    }

    mutating func snapshot(
        _ pid: Int32, _ sourceHandle: DirectoryHandle, _ name: EntryName, _ handle: DirectoryHandle, _ readOnly: Bool
    ) throws(Kind) {
        let credentials = try process(pid).credentials
        let source = try directory(pid, sourceHandle)
        let directory = try directory(pid, handle)
        try requireBtrfs(ioctlOn: directory)
        guard source.filesystem == directory.filesystem else { throw .crossDevice }
        guard isSubvolumeRoot(source) else { throw .invalidArgument }
        // A descriptor can outlive its subvolume; there is nothing left to
        // snapshot.
        if subvolume(of: source).isDeleted { throw .noEntry }
        // Snapshots are limited to subvolumes the caller owns.
        if !credentials.isRoot, node(source).owner != credentials.user { throw .notPermitted }
        if child(name, of: directory) != nil { throw .exists }
        try checkModifiable(directory, by: credentials)
        let copy = copySubvolume(source, named: name, in: directory, readOnly: readOnly)
        if isRecordingEffects {
            let effect: SimulatedEffect = .createdSubvolume(subvolumeRecord(for: copy), sourceID: node(source).subvolume)
            record(effect)
        }
        // Creating a snapshot commits the transaction.
        commit(directory.filesystem)
    }

    /// Copies a subvolume's tree as a new subvolume. A nested subvolume is
    /// not part of it: an empty directory with inode 2 stands in its place.
    /// A read-only copy keeps the received UUID (the kernel clears it only
    /// for a writable snapshot, which can change).
    @discardableResult
    mutating func copySubvolume(_ source: NodeRef, named name: EntryName, in directory: NodeRef, readOnly: Bool)
        -> NodeRef
    {
        let filesystem = directory.filesystem
        let original = subvolume(of: source)
        let id = filesystems[filesystem].allocateSubvolumeID()
        let device = allocateDevice()
        var rootNode = node(source)
        rootNode.subvolume = id
        rootNode.device = device
        rootNode.children = [:]
        let ref = attach(rootNode, named: name, in: directory)
        let uuid = allocateUUID(on: filesystem)
        filesystems[filesystem].setSubvolume(
            SubvolumeState(
                id: id, root: ref.node, uuid: uuid, parentUUID: original.uuid,
                receivedUUID: readOnly ? original.receivedUUID : .zero,
                isReadOnly: readOnly, device: device, parentSubvolume: node(directory).subvolume,
                nextInode: original.nextInode))
        linkSubvolume(id, below: node(directory).subvolume, on: filesystem)
        copyChildren(of: source, into: ref, subvolume: id, device: device)
        return ref
    }

    private mutating func copyChildren(of source: NodeRef, into target: NodeRef, subvolume: SubvolumeID, device: UInt64) {
        for (name, childID) in node(source).children.sorted(by: { $0.key < $1.key }) {
            let child = NodeRef(filesystem: source.filesystem, node: childID)
            var copy = node(child)
            copy.subvolume = subvolume
            copy.device = device
            copy.children = [:]
            if isSubvolumeRoot(child) {
                // The kernel makes it at lookup, owned as the directory
                // holding it.
                copy.inode = 2
                copy.permissions = 0o755
                copy.owner = node(target).owner
                copy.group = node(target).group
                copy.isStandIn = true
                attach(copy, named: name, in: target)
                continue
            }
            let copied = attach(copy, named: name, in: target)
            if copy.type == .directory { copyChildren(of: child, into: copied, subvolume: subvolume, device: device) }
        }
    }

    mutating func deleteSubvolume(_ pid: Int32, _ name: EntryName, _ handle: DirectoryHandle) throws(Kind) {
        let credentials = try process(pid).credentials
        let directory = try directory(pid, handle)
        try requireBtrfs(ioctlOn: directory)
        try checkSearchable(directory, by: credentials)
        guard let victim = child(name, of: directory) else { throw .noEntry }
        if !credentials.isRoot {
            // An unprivileged delete needs the mount option, must name a
            // subvolume root, and needs write access to that root.
            if !filesystems[directory.filesystem].userSubvolumeRemovalAllowed { throw .notPermitted }
            if !isSubvolumeRoot(victim) { throw .invalidArgument }
            if subvolume(of: victim).isReadOnly { throw .readOnly }
            if !permits(credentials, [.write, .search], on: victim) { throw .accessDenied }
        }
        // `btrfs_may_delete`: the directory, then the sticky bit.
        try checkModifiable(directory, by: credentials)
        try checkSticky(victim, in: directory, by: credentials)
        guard node(victim).type == .directory else { throw .notDirectory }
        guard isSubvolumeRoot(victim) else { throw .invalidArgument }
        try checkDestroyable(victim)
        // Its path is read before it goes, and only for an observer.
        let deleted = isRecordingEffects ? subvolumeRecord(for: victim) : nil
        removeSubvolume(victim)
        if let deleted { record(.deletedSubvolume(deleted)) }
    }

    mutating func deleteSubvolume(_ pid: Int32, _ id: SubvolumeID, _ handle: DirectoryHandle) throws(Kind) {
        let credentials = try process(pid).credentials
        let directory = try directory(pid, handle)
        try requireBtrfs(ioctlOn: directory)
        guard id >= .firstFree else { throw .invalidArgument }
        // No copy of the filesystem's state may live on here: the delete
        // below would copy its tables on write.
        guard let subvolume = filesystems[directory.filesystem].subvolumes[id], !subvolume.isDeleted else {
            throw .noEntry
        }
        let victim = NodeRef(filesystem: directory.filesystem, node: subvolume.root)
        guard let parent = node(victim).parent else { throw .noEntry }
        if !credentials.isRoot {
            if !filesystems[directory.filesystem].userSubvolumeRemovalAllowed { throw .notPermitted }
            if subvolume.isReadOnly { throw .readOnly }
            if !permits(credentials, [.write, .search], on: victim) { throw .accessDenied }
        }
        let parentRef = NodeRef(filesystem: directory.filesystem, node: parent)
        try checkModifiable(parentRef, by: credentials)
        try checkSticky(victim, in: parentRef, by: credentials)
        try checkDestroyable(victim)
        // Its path is read before it goes, and only for an observer.
        let deleted = isRecordingEffects ? subvolumeRecord(for: victim) : nil
        removeSubvolume(victim)
        if let deleted { record(.deletedSubvolume(deleted)) }
    }

    /// The checks of `btrfs_delete_subvolume`: not the default subvolume,
    /// no nested subvolume.
    func checkDestroyable(_ root: NodeRef) throws(Kind) {
        let id = node(root).subvolume
        if filesystems[root.filesystem].defaultSubvolume == id { throw .notPermitted }
        if filesystems[root.filesystem].nested[id] != nil { throw .notEmpty }
    }

    mutating func linkSubvolume(_ id: SubvolumeID, below parent: SubvolumeID, on filesystem: Int) {
        filesystems[filesystem].linkSubvolume(id, below: parent)
    }

    mutating func unlinkSubvolume(_ id: SubvolumeID, from parent: SubvolumeID?, on filesystem: Int) {
        guard let parent else { return }
        filesystems[filesystem].unlinkSubvolume(id, from: parent)
    }

    /// Deletes a subvolume: cut from its directory, its tree unreachable,
    /// mounts inside it torn away. Descriptors into it stay usable.
    mutating func removeSubvolume(_ root: NodeRef) {
        let filesystem = root.filesystem
        let id = node(root).subvolume
        var tree: [NodeRef] = []
        var pending = [root]
        while let ref = pending.popLast() {
            tree.append(ref)
            for childID in node(ref).children.values {
                let child = NodeRef(filesystem: filesystem, node: childID)
                if node(child).type == .directory { pending.append(child) } else { tree.append(child) }
            }
        }
        if mountsBelow[root] != nil {
            for covered in tree.filter({ mounts[$0] != nil }).sorted() { unmount(covered) }
        }
        let node = node(root)
        if let parent = node.parent, let name = node.name {
            filesystems[filesystem].setEntry(name, in: parent, to: nil)
        }
        filesystems[filesystem].updateSubvolume(id) { $0.isDeleted = true }
        unlinkSubvolume(id, from: filesystems[filesystem].subvolumes[id]?.parentSubvolume, on: filesystem)
        // Locks stay with the descriptors that hold them (which keep
        // their nodes), as they do for an unlinked file.
        if tree.contains(where: isOpen) {
            for ref in tree { updateNode(ref) { $0.isAttached = false } }
        } else {
            for ref in tree { filesystems[filesystem].freeNode(ref.node) }
        }
    }

    /// Mounts a filesystem's root on a directory.
    mutating func mount(_ root: NodeRef, on covered: NodeRef, isPersistent: Bool) {
        mounts[covered] = MountState(root: root, isPersistent: isPersistent)
        mountChanges &+= 1
        mountedOn[root] = covered
        countMount(at: covered, 1)
    }

    mutating func unmount(_ covered: NodeRef) {
        guard let mount = mounts.removeValue(forKey: covered) else { return }
        mountChanges &+= 1
        mountedOn[mount.root] = nil
        countMount(at: covered, -1)
    }

    /// Adds `delta` mount points to the count of a directory and of each
    /// directory above it on its filesystem.
    mutating func countMount(at ref: NodeRef, _ delta: Int) {
        var current: NodeID? = ref.node
        while let id = current {
            let key = NodeRef(filesystem: ref.filesystem, node: id)
            let count = (mountsBelow[key] ?? 0) + delta
            mountsBelow[key] = count > 0 ? count : nil
            current = filesystems[ref.filesystem].nodes[id]?.parent
        }
    }

    mutating func setReadOnly(_ pid: Int32, _ readOnly: Bool, _ handle: DirectoryHandle) throws(Kind) {
        let credentials = try process(pid).credentials
        let directory = try directory(pid, handle)
        try requireBtrfs(ioctlOn: directory)
        guard isSubvolumeRoot(directory) else { throw .invalidArgument }
        if !credentials.isRoot, node(directory).owner != credentials.user { throw .notPermitted }
        let id = node(directory).subvolume
        // The received UUID stays: libbtrfsutil does not clear it.
        filesystems[directory.filesystem].updateSubvolume(id) { $0.isReadOnly = readOnly }
        if isRecordingEffects {
            let effect: SimulatedEffect = .setReadOnly(subvolumeRecord(for: directory), readOnly: readOnly)
            record(effect)
        }
        // `SUBVOL_SETFLAGS` commits its transaction.
        commit(directory.filesystem)
    }

    mutating func sync(_ pid: Int32, _ handle: DirectoryHandle) throws(Kind) {
        let directory = try directory(pid, handle)
        try requireBtrfs(ioctlOn: directory)
        commit(directory.filesystem)
    }

    /// Makes a filesystem's present state the one a crash returns to.
    mutating func commit(_ filesystem: Int) {
        guard filesystems[filesystem].durability == .btrfs else { return }
        filesystems[filesystem].commit()
        if isRecordingEffects {
            let effect: SimulatedEffect = .committed(filesystem: filesystem)
            record(effect)
        }
    }

    func mountPoints(_ pid: Int32, _ handle: DirectoryHandle) throws(Kind) -> [String] {
        let directory = try directory(pid, handle)
        guard mountsBelow[directory] != nil else { return [] }
        return mounts.keys.filter { isWithin($0, directory) }.map { path(of: $0) }
            .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }
}
