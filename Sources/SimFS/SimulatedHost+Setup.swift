import FSProtocol

/// A setup step that cannot be carried out, with the reason.
public struct SetupError: Error, Hashable, Sendable, CustomStringConvertible {
    public var path: String
    public var reason: String
    /// The layout line of the entry that could not be set up, when it
    /// came from a layout's text.
    public var line: Int?

    public init(path: String, reason: String, line: Int? = nil) {
        self.path = path
        self.reason = reason
        self.line = line
    }

    public var description: String { "\(path): \(reason)" }
}

/// Building a host's tree as it is on disk before anything runs: no
/// permission checks, no gate, and every change counts as committed.
extension SimulatedHost {
    /// Adds a plain directory (and any missing parent).
    public func addDirectory(_ path: String, owner: UInt32 = 0, group: UInt32 = 0, permissions: UInt16 = 0o755)
        throws(SetupError)
    {
        try setup(path) { state, directory, name throws(SetupError) in
            var node = state.newNode(.directory, in: directory, by: Credentials(user: owner, group: group))
            node.permissions = permissions
            state.attach(node, named: name, in: directory)
        }
    }

    /// Adds a btrfs filesystem mounted at `path`, as each machine volume
    /// is. Build OS mounts volumes with `user_subvol_rm_allowed`.
    public func addVolume(_ path: String, owner: UInt32 = 0, group: UInt32 = 0, userSubvolumeRemovalAllowed: Bool = true)
        throws(SetupError)
    {
        try addFilesystem(
            path, isBtrfs: true, durability: .btrfs, isPersistent: true, owner: owner, group: group,
            userSubvolumeRemovalAllowed: userSubvolumeRemovalAllowed)
    }

    /// Adds a tmpfs mounted at `path` at boot (such as `/var/lock`, which
    /// everybody may write to): it comes back empty after a crash.
    public func addTmpfs(_ path: String, permissions: UInt16 = 0o1777) throws(SetupError) {
        try addFilesystem(
            path, isBtrfs: false, durability: .volatile, isPersistent: true, owner: 0, group: 0,
            userSubvolumeRemovalAllowed: false, permissions: permissions)
    }

    /// Mounts a tmpfs on `path` at run time, such as a bind mount an
    /// operator left inside a machine directory; a crash unmounts it.
    public func addMount(_ path: String) throws(SetupError) {
        try addFilesystem(
            path, isBtrfs: false, durability: .volatile, isPersistent: false, owner: 0, group: 0,
            userSubvolumeRemovalAllowed: false)
    }

    private func addFilesystem(
        _ path: String, isBtrfs: Bool, durability: Durability, isPersistent: Bool, owner: UInt32, group: UInt32,
        userSubvolumeRemovalAllowed: Bool, permissions: UInt16 = 0o755
    ) throws(SetupError) {
        try state.withLock { (state: inout HostState) throws(SetupError) in
            if state.setupParents != nil { state.setupParents = [:] }
            let covered: NodeRef
            if let existing = state.setupLookup(path) {
                guard state.node(existing).type == .directory else {
                    throw SetupError(path: path, reason: "a mount point must be a directory")
                }
                guard state.mounts[existing] == nil else { throw SetupError(path: path, reason: "already mounted") }
                covered = existing
            } else {
                let (directory, name) = try state.setupParent(path)
                covered = state.attach(
                    state.newNode(.directory, in: directory, by: .root), named: name, in: directory)
            }
            let index = state.makeFilesystem(
                isBtrfs: isBtrfs, durability: durability, userSubvolumeRemovalAllowed: userSubvolumeRemovalAllowed)
            let root = NodeRef(filesystem: index, node: state.filesystems[index].root)
            state.updateNode(root) {
                $0.owner = owner
                $0.group = group
                $0.permissions = permissions
            }
            state.mount(root, on: covered, isPersistent: isPersistent)
            state.markSetupPending()
        }
    }

    /// Adds a subvolume. A received one carries a received UUID, as `btrfs
    /// receive` leaves it.
    public func addSubvolume(
        _ path: String, readOnly: Bool = false, received: Bool = false, owner: UInt32 = 0, group: UInt32 = 0
    ) throws(SetupError) {
        try setup(path) { state, directory, name throws(SetupError) in
            guard state.filesystems[directory.filesystem].isBtrfs else {
                throw SetupError(path: path, reason: "not on a btrfs filesystem")
            }
            let ref = state.addSubvolume(named: name, in: directory, owner: owner, group: group, permissions: 0o755)
            let id = state.node(ref).subvolume
            let receivedUUID = received ? state.allocateUUID(on: ref.filesystem) : .zero
            state.filesystems[ref.filesystem].updateSubvolume(id) {
                $0.isReadOnly = readOnly
                $0.receivedUUID = receivedUUID
            }
        }
    }

    /// Adds a snapshot of the subvolume at `source`.
    public func addSnapshot(of source: String, at path: String, readOnly: Bool = false) throws(SetupError) {
        try setup(path) { state, directory, name throws(SetupError) in
            guard let sourceRef = state.setupLookup(source), state.isSubvolumeRoot(sourceRef) else {
                throw SetupError(path: source, reason: "not a subvolume")
            }
            guard sourceRef.filesystem == directory.filesystem else {
                throw SetupError(path: path, reason: "not on the filesystem of \(source)")
            }
            state.copySubvolume(sourceRef, named: name, in: directory, readOnly: readOnly)
        }
    }

    /// Adds a regular file.
    public func addFile(_ path: String, contents: [UInt8] = [], owner: UInt32 = 0, group: UInt32 = 0)
        throws(SetupError)
    {
        try setup(path) { state, directory, name throws(SetupError) in
            var node = state.newNode(.file, in: directory, by: Credentials(user: owner, group: group))
            node.contents = contents
            state.attach(node, named: name, in: directory)
        }
    }

    /// Adds a symbolic link.
    public func addSymlink(_ path: String, target: String, owner: UInt32 = 0, group: UInt32 = 0) throws(SetupError) {
        try setup(path) { state, directory, name throws(SetupError) in
            var node = state.newNode(.symlink, in: directory, by: Credentials(user: owner, group: group))
            node.linkTarget = target
            state.attach(node, named: name, in: directory)
        }
    }

    /// Adds a symbolic link whose target is `targetBytes`, which need not
    /// be UTF-8: reading such a target gives `notUTF8`, as the real
    /// backend does; following it walks its bytes.
    public func addSymlink(_ path: String, targetBytes: [UInt8], owner: UInt32 = 0, group: UInt32 = 0)
        throws(SetupError)
    {
        guard let text = String(validating: targetBytes, as: UTF8.self) else {
            return try setup(path) { state, directory, name throws(SetupError) in
                var node = state.newNode(.symlink, in: directory, by: Credentials(user: owner, group: group))
                node.linkTarget = EntryName.rendering(of: targetBytes)
                node.linkTargetBytes = targetBytes
                state.attach(node, named: name, in: directory)
            }
        }
        try addSymlink(path, target: text, owner: owner, group: group)
    }

    /// Adds a FIFO (any entry that is neither file, directory nor link).
    public func addSpecial(_ path: String) throws(SetupError) {
        try setup(path) { state, directory, name throws(SetupError) in
            state.attach(state.newNode(.special, in: directory, by: .root), named: name, in: directory)
        }
    }

    /// Makes the subvolume at `path` its filesystem's default subvolume.
    public func setDefaultSubvolume(_ path: String) throws(SetupError) {
        try state.withLock { (state: inout HostState) throws(SetupError) in
            guard let ref = state.setupLookup(path), state.isSubvolumeRoot(ref) else {
                throw SetupError(path: path, reason: "not a subvolume")
            }
            state.filesystems[ref.filesystem].setDefaultSubvolume(state.node(ref).subvolume)
            state.markSetupPending()
        }
    }

    /// Adds an entry whose name on disk is not UTF-8, in the directory at
    /// `directory`: `rendering` is how it reads (invalid bytes as `\xNN`,
    /// as the real backend renders them). Like the real one, no call of a
    /// process accepts the name.
    public func addUndecodable(_ kind: EntryKind, named rendering: String, in directory: String, target: String = "")
        throws(SetupError)
    {
        let path = directory + "/" + rendering
        try state.withLock { (state: inout HostState) throws(SetupError) in
            guard let parent = state.setupLookup(directory), state.node(parent).type == .directory else {
                throw SetupError(path: directory, reason: "not a directory")
            }
            let name = EntryName(undecodable: rendering)
            if state.child(name, of: parent) != nil { throw SetupError(path: path, reason: "already exists") }
            switch kind {
            case .subvolume:
                guard state.filesystems[parent.filesystem].isBtrfs else {
                    throw SetupError(path: path, reason: "not on a btrfs filesystem")
                }
                _ = state.addSubvolume(named: name, in: parent, owner: 0, group: 0, permissions: 0o755)
            case .directory:
                state.attach(state.newNode(.directory, in: parent, by: .root), named: name, in: parent)
            case .file:
                state.attach(state.newNode(.file, in: parent, by: .root), named: name, in: parent)
            case .symlink:
                guard !target.isEmpty else { throw SetupError(path: path, reason: "a link needs a target") }
                var link = state.newNode(.symlink, in: parent, by: .root)
                link.linkTarget = target
                state.attach(link, named: name, in: parent)
            case .other:
                throw SetupError(path: path, reason: "only a subvolume, a directory, a file or a link")
            }
            state.markSetupPending()
        }
    }

    private func setup(
        _ path: String, _ body: (inout HostState, NodeRef, EntryName) throws(SetupError) -> Void
    ) throws(SetupError) {
        try state.withLock { (state: inout HostState) throws(SetupError) in
            let (directory, name) = try state.setupParent(path)
            if state.child(name, of: directory) != nil { throw SetupError(path: path, reason: "already exists") }
            try body(&state, directory, name)
            state.markSetupPending()
        }
    }
}

extension HostState {
    /// The node at an absolute path, crossing mounts, following no link.
    func setupLookup(_ path: String) -> NodeRef? {
        var current = crossingMounts(NodeRef(filesystem: rootFilesystem, node: filesystems[rootFilesystem].root))
        for component in EntryName.components(of: path) {
            guard node(current).type == .directory, let name = EntryName(String(component)),
                let child = setupChild(name, of: current)
            else { return nil }
            current = crossingMounts(child)
        }
        return current
    }

    /// The child a setup path's component names when looking up (never
    /// when making parents, where the text names a new entry): the entry
    /// of that exact name, else one added by `addUndecodable` whose
    /// rendering it is, so that `addUndecodable` can add below a name that
    /// is not UTF-8.
    func setupChild(_ name: EntryName, of directory: NodeRef) -> NodeRef? {
        child(name, of: directory) ?? child(EntryName(undecodable: name.rawValue), of: directory)
    }

    /// The directory that is to hold `path` (created with its parents as
    /// plain directories owned by root) and the last name.
    mutating func setupParent(_ path: String) throws(SetupError) -> (NodeRef, EntryName) {
        guard path.startsWithBytes("/") else { throw SetupError(path: path, reason: "not an absolute path") }
        if setupParents != nil, !path.endsWithBytes("/"),
            let slash = EntryName.withBytes(of: path, { $0.lastIndex(of: UInt8(ascii: "/")) })
        {
            let parent = ExactText(String(EntryName.bytes(of: path, from: 0, to: slash)))
            let last = String(EntryName.bytes(of: path, from: slash + 1, to: path.utf8.count))
            if let known = setupParents?[parent], let name = EntryName(last) {
                return (known, name)
            }
            let found = try walkToParent(path)
            setupParents?[parent] = found.0
            return found
        }
        return try walkToParent(path)
    }

    /// `setupParent` without the cache.
    private mutating func walkToParent(_ path: String) throws(SetupError) -> (NodeRef, EntryName) {
        var components = EntryName.components(of: path).map(String.init)
        guard let last = components.popLast(), let name = EntryName(last) else {
            throw SetupError(path: path, reason: "no entry name")
        }
        var current = crossingMounts(NodeRef(filesystem: rootFilesystem, node: filesystems[rootFilesystem].root))
        for component in components {
            guard let name = EntryName(component) else { throw SetupError(path: path, reason: "invalid path") }
            if let child = child(name, of: current) {
                current = crossingMounts(child)
                guard node(current).type == .directory else {
                    throw SetupError(path: path, reason: "\(component) is not a directory")
                }
            } else {
                current = attach(newNode(.directory, in: current, by: .root), named: name, in: current)
            }
        }
        return (current, name)
    }

    /// Notes that setup calls were made. Until their seal nothing needs
    /// journaling: the seal commits everything.
    mutating func markSetupPending() {
        guard !setupIsPending else { return }
        setupIsPending = true
        for index in filesystems.indices { filesystems[index].suspendJournal() }
    }

    /// Setup describes what is on disk: it survives any crash. Sealed once
    /// before anything else happens rather than after each setup call.
    mutating func sealPendingSetup() {
        guard setupIsPending else { return }
        setupIsPending = false
        for index in filesystems.indices { filesystems[index].resumeJournal() }
    }
}
