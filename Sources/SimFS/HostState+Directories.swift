import FSProtocol

/// The directory, link and file calls, as the kernel answers them.
extension HostState {
    // MARK: Opening and listing

    mutating func openRoot(_ pid: Int32, _ path: String) throws(Kind) -> DirectoryHandle {
        let credentials = try process(pid).credentials
        guard path.startsWithBytes("/") else { throw .invalidArgument }
        let top = crossingMounts(NodeRef(filesystem: rootFilesystem, node: filesystems[rootFilesystem].root))
        var current = top
        // The components still to walk, last first; a link pushes its own.
        var pending: [PathStep] = EntryName.components(of: path).reversed().map(PathStep.init(text:))
        var followed = 0
        var followedLink = false
        while let step = pending.popLast() {
            guard node(current).type == .directory else { throw .notDirectory }
            let name: EntryName
            switch step {
            case .here: continue
            case .up:
                current = parentDirectory(of: current)
                continue
            case .none:
                try checkSearchable(current, by: credentials)
                throw .noEntry
            case .name(let named): name = named
            }
            try checkSearchable(current, by: credentials)
            guard let child = child(name, of: current) else { throw .noEntry }
            let target = crossingMounts(child)
            if node(target).type == .symlink {
                followed += 1
                if followed > 40 { throw .symlinkLoop }
                followedLink = true
                let link = node(target)
                if let bytes = link.linkTargetBytes {
                    // Not UTF-8: walked as the kernel walks it, by bytes.
                    if bytes.first == UInt8(ascii: "/") { current = top }
                    let components = bytes.split(separator: UInt8(ascii: "/"))
                    pending.append(contentsOf: components.reversed().map(PathStep.init(bytes:)))
                } else {
                    if link.linkTarget.startsWithBytes("/") { current = top }
                    let components = EntryName.components(of: link.linkTarget)
                    pending.append(contentsOf: components.reversed().map(PathStep.init(text:)))
                }
                continue
            }
            current = target
        }
        guard node(current).type == .directory else { throw .notDirectory }
        // O_RDONLY: reading the directory.
        if !permits(credentials, .read, on: current) { throw .accessDenied }
        let descriptor = open(current, for: pid, isDirectory: true, isWritable: false)
        if followedLink { processes.update(pid) { $0.descriptors.update(descriptor) { $0.reachedThroughSymlink = true } } }
        return DirectoryHandle(descriptor: descriptor)
    }

    /// A directory's `..`, through the mount it may be the root of.
    func parentDirectory(of ref: NodeRef) -> NodeRef {
        if ref.node == filesystems[ref.filesystem].root {
            guard let covered = mountedOn[ref] else { return ref }
            return parentDirectory(of: covered)
        }
        guard let parent = node(ref).parent else { return ref }
        return NodeRef(filesystem: ref.filesystem, node: parent)
    }

    mutating func openDirectory(_ pid: Int32, _ name: EntryName, _ parent: DirectoryHandle) throws(Kind)
        -> DirectoryHandle
    {
        let credentials = try process(pid).credentials
        let directory = try directory(pid, parent)
        try checkSearchable(directory, by: credentials)
        guard let child = child(name, of: directory) else { throw .noEntry }
        let target = crossingMounts(child)
        // O_NOFOLLOW | O_DIRECTORY: a link is refused like a file.
        guard node(target).type == .directory else { throw .notDirectory }
        // O_RDONLY: reading the directory.
        if !permits(credentials, .read, on: target) { throw .accessDenied }
        return DirectoryHandle(descriptor: open(target, for: pid, isDirectory: true, isWritable: false))
    }

    func list(_ pid: Int32, _ handle: DirectoryHandle) throws(Kind) -> [DirectoryEntry] {
        let credentials = try process(pid).credentials
        let directory = try directory(pid, handle)
        // RealFS reads a fresh descriptor of its `.`: a lookup, then a read.
        if !permits(credentials, [.read, .search], on: directory) { throw .accessDenied }
        // Sort the names first: a pair moves faster than an entry.
        let children = (isInDeletedSubvolume(directory) ? [:] : node(directory).children).sorted { $0.key < $1.key }
        var entries: [DirectoryEntry] = []
        entries.reserveCapacity(children.count)
        let noMounts = mounts.isEmpty
        for (name, id) in children {
            let ref = NodeRef(filesystem: directory.filesystem, node: id)
            let covered = !noMounts && mounts[ref] != nil
            let status = status(of: covered ? crossingMounts(ref) : ref)
            // readdir names a subvolume by its id; a mount point by the
            // directory it covers.
            let subvolume = status.kind == .subvolume && !covered ? node(ref).subvolume : nil
            entries.append(DirectoryEntry(name: name, status: status, subvolumeID: subvolume))
        }
        return entries
    }

    func status(_ pid: Int32, _ name: EntryName, _ handle: DirectoryHandle) throws(Kind) -> EntryStatus {
        let credentials = try process(pid).credentials
        let directory = try directory(pid, handle)
        try checkSearchable(directory, by: credentials)
        guard let child = child(name, of: directory) else { throw .noEntry }
        return status(of: crossingMounts(child))
    }

    func status(_ pid: Int32, _ handle: DirectoryHandle) throws(Kind) -> EntryStatus {
        status(of: try directory(pid, handle))
    }

    func readLink(_ pid: Int32, _ name: EntryName, _ handle: DirectoryHandle) throws(Kind) -> String {
        let credentials = try process(pid).credentials
        let directory = try directory(pid, handle)
        try checkSearchable(directory, by: credentials)
        guard let child = child(name, of: directory) else { throw .noEntry }
        let node = node(child)
        guard node.type == .symlink else { throw .invalidArgument }
        if node.linkTargetBytes != nil { throw .notUTF8 }
        return node.linkTarget
    }

    // MARK: Creating and removing entries

    /// Adds a new node under `name` in a directory.
    @discardableResult
    mutating func attach(_ new: Node, named name: EntryName, in directory: NodeRef) -> NodeRef {
        var new = new
        new.parent = directory.node
        new.name = name
        new.isAttached = true
        let id = allocateNode(new, on: directory.filesystem)
        filesystems[directory.filesystem].setEntry(name, in: directory.node, to: id)
        return NodeRef(filesystem: directory.filesystem, node: id)
    }

    /// A node the credentials create in a directory (owner, group, inode
    /// of the directory's subvolume).
    mutating func newNode(_ type: Node.NodeType, in directory: NodeRef, by credentials: Credentials) -> Node {
        let parent = node(directory)
        let subvolume = parent.subvolume
        let inode = nextInode(on: directory.filesystem, in: subvolume)
        let permissions: UInt16 =
            switch type {
            case .directory: 0o755
            case .file: 0o644
            case .symlink: 0o777
            case .special: 0o644
            }
        return Node(
            type: type, parent: nil, subvolume: subvolume, device: parent.device, inode: inode,
            owner: credentials.user, group: credentials.group, permissions: permissions)
    }

    mutating func createSymlink(_ pid: Int32, _ name: EntryName, _ handle: DirectoryHandle, _ target: String)
        throws(Kind)
    {
        let credentials = try process(pid).credentials
        let directory = try directory(pid, handle)
        guard !target.isEmpty else { throw .noEntry }
        // What RealFS refuses: the kernel would get the target cut at it.
        if target.containsByte("\0") { throw .invalidArgument }
        if child(name, of: directory) != nil { throw .exists }
        try refuseEntries(in: directory, by: credentials, with: .notPermitted)
        try checkModifiable(directory, by: credentials)
        var link = newNode(.symlink, in: directory, by: credentials)
        link.linkTarget = target
        let ref = attach(link, named: name, in: directory)
        if isRecordingEffects {
            let effect: SimulatedEffect = .created(path: path(of: ref), kind: .symlink)
            record(effect)
        }
    }

    mutating func makeDirectory(_ pid: Int32, _ name: EntryName, _ handle: DirectoryHandle) throws(Kind) {
        let credentials = try process(pid).credentials
        let directory = try directory(pid, handle)
        if child(name, of: directory) != nil { throw .exists }
        try refuseEntries(in: directory, by: credentials, with: .notPermitted)
        try checkModifiable(directory, by: credentials)
        let ref = attach(newNode(.directory, in: directory, by: credentials), named: name, in: directory)
        if isRecordingEffects {
            let effect: SimulatedEffect = .created(path: path(of: ref), kind: .directory)
            record(effect)
        }
    }

    mutating func unlink(_ pid: Int32, _ name: EntryName, _ handle: DirectoryHandle) throws(Kind) {
        let credentials = try process(pid).credentials
        let directory = try directory(pid, handle)
        try checkSearchable(directory, by: credentials)
        guard let child = child(name, of: directory) else { throw .noEntry }
        // `may_delete`: the directory first, then the entry.
        try checkModifiable(directory, by: credentials)
        try checkSticky(child, in: directory, by: credentials)
        if node(child).type == .directory { throw .isDirectory }
        let kind = kind(of: child)
        let path = isRecordingEffects ? path(of: child) : ""
        detach(child)
        if isRecordingEffects {
            let effect: SimulatedEffect = .removed(path: path, kind: kind)
            record(effect)
        }
    }

    mutating func removeDirectory(_ pid: Int32, _ name: EntryName, _ handle: DirectoryHandle) throws(Kind) {
        let credentials = try process(pid).credentials
        let directory = try directory(pid, handle)
        try checkSearchable(directory, by: credentials)
        guard let child = child(name, of: directory) else { throw .noEntry }
        // `may_delete`: the directory first, then the entry.
        try checkModifiable(directory, by: credentials)
        try checkSticky(child, in: directory, by: credentials)
        guard node(child).type == .directory else { throw .notDirectory }
        if mounts[child] != nil { throw .busy }
        if !node(child).children.isEmpty { throw .notEmpty }
        if isSubvolumeRoot(child) {
            // Since 4.18 rmdir removes an empty subvolume, with the checks
            // of a subvolume delete that do not concern permissions.
            let subvolume = subvolume(of: child)
            if filesystems[child.filesystem].defaultSubvolume == subvolume.id { throw .notPermitted }
            let deleted = subvolumeRecord(for: child)
            removeSubvolume(child)
            if isRecordingEffects {
                let effect: SimulatedEffect = .deletedSubvolume(deleted)
                record(effect)
            }
            return
        }
        let path = isRecordingEffects ? path(of: child) : ""
        detach(child)
        if isRecordingEffects {
            let effect: SimulatedEffect = .removed(path: path, kind: .directory)
            record(effect)
        }
    }

    /// Cuts a node from its directory. Its storage goes unless a descriptor
    /// still points at it.
    mutating func detach(_ ref: NodeRef) {
        let node = node(ref)
        if let parent = node.parent, let name = node.name {
            filesystems[ref.filesystem].setEntry(name, in: parent, to: nil)
        }
        // A lock belongs to the open file, not to the name: it stays held
        // until the descriptor holding it closes.
        if isOpen(ref) {
            updateNode(ref) { $0.isAttached = false }
        } else {
            filesystems[ref.filesystem].freeNode(ref.node)
        }
    }

    /// Whether a descriptor points at the node.
    func isOpen(_ ref: NodeRef) -> Bool {
        openCounts[ref] != nil
    }

    // MARK: Rename and owner

    mutating func rename(
        _ pid: Int32, _ name: EntryName, _ fromHandle: DirectoryHandle, _ newName: EntryName,
        _ toHandle: DirectoryHandle, _ mode: RenameMode
    ) throws(Kind) {
        let credentials = try process(pid).credentials
        let from = try directory(pid, fromHandle)
        let to = try directory(pid, toHandle)
        try checkSearchable(from, by: credentials)
        try checkSearchable(to, by: credentials)
        guard let source = child(name, of: from) else { throw .noEntry }
        guard from.filesystem == to.filesystem else { throw .crossDevice }
        // `renameat2` answers a taken name (without replacing) and a
        // rename onto itself before any check of `vfs_rename`.
        let existing = child(newName, of: to)
        if existing != nil, mode == .noReplace { throw .exists }
        if existing == source { return }
        try checkModifiable(from, by: credentials)
        try checkSticky(source, in: from, by: credentials)
        try refuseEntries(in: to, by: credentials, with: .notPermitted)
        try checkModifiable(to, by: credentials)
        if let existing { try checkSticky(existing, in: to, by: credentials) }
        if mounts[source] != nil { throw .busy }
        let sourceIsSubvolume = isSubvolumeRoot(source)
        // Only a subvolume root may move to another subvolume.
        if !sourceIsSubvolume, node(from).subvolume != node(to).subvolume { throw .crossDevice }
        // A stand-in for a nested subvolume stays where it is.
        if node(source).isStandIn { throw .notEmpty }
        // A read-only subvolume cannot change its `..`.
        if sourceIsSubvolume, from != to, subvolume(of: source).isReadOnly { throw .readOnly }
        let sourceIsDirectory = node(source).type == .directory
        if sourceIsDirectory, isWithin(to, source) { throw .invalidArgument }
        if let existing {
            if mounts[existing] != nil { throw .busy }
            let existingIsDirectory = node(existing).type == .directory
            if sourceIsDirectory, !existingIsDirectory { throw .notDirectory }
            if !sourceIsDirectory, existingIsDirectory { throw .isDirectory }
            if existingIsDirectory, isSubvolumeRoot(existing) || !node(existing).children.isEmpty {
                throw .notEmpty
            }
        }
        let oldPath = isRecordingEffects ? path(of: source) : ""
        if let existing { detach(existing) }
        let mountsInside = mountsBelow[source] ?? 0
        if mountsInside > 0 { countMount(at: from, -mountsInside) }
        let filesystem = source.filesystem
        filesystems[filesystem].setEntry(name, in: from.node, to: nil)
        filesystems[filesystem].setEntry(newName, in: to.node, to: source.node)
        updateNode(source) {
            $0.parent = to.node
            $0.name = newName
        }
        if mountsInside > 0 { countMount(at: to, mountsInside) }
        if sourceIsSubvolume {
            let id = node(source).subvolume
            unlinkSubvolume(id, from: filesystems[filesystem].subvolumes[id]?.parentSubvolume, on: filesystem)
            let newParent = node(to).subvolume
            filesystems[filesystem].updateSubvolume(id) { $0.parentSubvolume = newParent }
            linkSubvolume(id, below: newParent, on: filesystem)
        }
        if isRecordingEffects {
            record(
                .renamed(
                    from: oldPath, to: path(of: source), kind: kind(of: source),
                    subvolume: sourceIsSubvolume ? subvolumeRecord(for: source) : nil))
        }
    }

    mutating func changeOwner(
        _ pid: Int32, _ name: EntryName, _ handle: DirectoryHandle, _ owner: UInt32, _ group: UInt32
    ) throws(Kind) {
        let credentials = try process(pid).credentials
        let directory = try directory(pid, handle)
        try checkSearchable(directory, by: credentials)
        guard let child = child(name, of: directory) else { throw .noEntry }
        let target = crossingMounts(child)
        if filesystems[target.filesystem].isBtrfs, subvolume(of: target).isReadOnly { throw .readOnly }
        // -1 leaves an id as it is, as `fchownat` does, and asks no right.
        let newOwner = owner == UInt32.max ? nil : owner
        let newGroup = group == UInt32.max ? nil : group
        // Only root gives an entry away; its owner may keep the owner and
        // set the group to its own (this model has no supplementary groups).
        if !credentials.isRoot {
            let current = node(target)
            let isOwner = credentials.user == current.owner
            if let newOwner, !isOwner || newOwner != current.owner { throw .notPermitted }
            if let newGroup, !isOwner || (newGroup != current.group && newGroup != credentials.group) {
                throw .notPermitted
            }
        }
        updateNode(target) {
            $0.owner = newOwner ?? $0.owner
            $0.group = newGroup ?? $0.group
        }
    }

    // MARK: Files and locks

    mutating func openFile(_ pid: Int32, _ name: EntryName, _ handle: DirectoryHandle, _ options: FileOpenOptions)
        throws(Kind) -> FileHandle
    {
        let credentials = try process(pid).credentials
        let directory = try directory(pid, handle)
        try checkSearchable(directory, by: credentials)
        let writable = options.contains(.write)
        if let existing = child(name, of: directory) {
            if options.contains(.create), options.contains(.exclusive) { throw .exists }
            let target = crossingMounts(existing)
            switch node(target).type {
            case .symlink: throw .symlinkLoop
            case .directory: throw .isDirectory
            // A FIFO, a socket or a device: no file (RealFS never opens one).
            case .special: throw .invalidArgument
            case .file: break
            }
            if writable {
                if filesystems[target.filesystem].isBtrfs, subvolume(of: target).isReadOnly { throw .readOnly }
                if !permits(credentials, .write, on: target) { throw .accessDenied }
            } else if !permits(credentials, .read, on: target) {
                throw .accessDenied
            }
            return FileHandle(descriptor: open(target, for: pid, isDirectory: false, isWritable: writable))
        }
        guard options.contains(.create) else { throw .noEntry }
        try refuseEntries(in: directory, by: credentials, with: .accessDenied)
        try checkModifiable(directory, by: credentials)
        let ref = attach(newNode(.file, in: directory, by: credentials), named: name, in: directory)
        if isRecordingEffects {
            let effect: SimulatedEffect = .created(path: path(of: ref), kind: .file)
            record(effect)
        }
        return FileHandle(descriptor: open(ref, for: pid, isDirectory: false, isWritable: writable))
    }

    /// A new file that appears with its owner (RealFS: O_TMPFILE, fchown,
    /// linkat), in one step.
    mutating func createFile(_ pid: Int32, _ name: EntryName, _ handle: DirectoryHandle, owner: UInt32, group: UInt32)
        throws(Kind) -> FileHandle
    {
        let credentials = try process(pid).credentials
        let directory = try directory(pid, handle)
        try checkSearchable(directory, by: credentials)
        if child(name, of: directory) != nil { throw .exists }
        // O_TMPFILE: EOPNOTSUPP, past the permission checks.
        try refuseEntries(in: directory, by: credentials, with: .notSupported)
        try checkModifiable(directory, by: credentials)
        // fchown: only root gives a file away (or changes its group to one
        // it is not in; this model has no supplementary groups).
        if !credentials.isRoot, owner != credentials.user || group != credentials.group { throw .notPermitted }
        let ref = attach(newNode(.file, in: directory, by: credentials), named: name, in: directory)
        updateNode(ref) {
            $0.owner = owner
            $0.group = group
        }
        if isRecordingEffects {
            let effect: SimulatedEffect = .created(path: path(of: ref), kind: .file)
            record(effect)
        }
        return FileHandle(descriptor: open(ref, for: pid, isDirectory: false, isWritable: true))
    }

    mutating func write(_ pid: Int32, _ bytes: [UInt8], _ handle: FileHandle) throws(Kind) {
        let open = try file(pid, handle)
        guard open.isWritable else { throw .badDescriptor }
        // An open descriptor keeps writing after the subvolume turned
        // read-only or was deleted.
        filesystems[open.node.filesystem].appendContents(bytes, to: open.node.node)
    }

    func readAll(_ pid: Int32, _ handle: FileHandle) throws(Kind) -> [UInt8] {
        node(try file(pid, handle).node).contents
    }

    func status(_ pid: Int32, _ handle: FileHandle) throws(Kind) -> EntryStatus {
        status(of: try file(pid, handle).node)
    }

    func isLockHeld(_ pid: Int32, _ handle: FileHandle) throws(Kind) -> Bool {
        locks[try file(pid, handle).node] != nil
    }

    mutating func tryLock(_ pid: Int32, _ handle: FileHandle) throws(Kind) -> Bool {
        let open = try file(pid, handle)
        if let holder = locks[open.node], holder != open.id { return false }
        locks[open.node] = open.id
        return true
    }
}

/// One component of a path being walked.
enum PathStep {
    case here, up
    case name(EntryName)
    /// A component that names nothing (it holds a NUL).
    case none

    init(text: Substring) {
        switch text {
        case ".": self = .here
        case "..": self = .up
        default: self = EntryName(String(text)).map(PathStep.name) ?? .none
        }
    }

    init(bytes: ArraySlice<UInt8>) {
        if bytes.elementsEqual(".".utf8) {
            self = .here
        } else if bytes.elementsEqual("..".utf8) {
            self = .up
        } else {
            self = EntryName(onDisk: bytes).map(PathStep.name) ?? .none
        }
    }
}
