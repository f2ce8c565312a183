import FSProtocol

/// One simulated filesystem: btrfs or not.
///
/// What a crash returns to is not kept as a copy: every change since the
/// last commit is journaled with what it replaced, and a crash undoes the
/// journal, newest change first. A commit empties the journal. Each change
/// is journaled once and undone or dropped once, so commits and crashes
/// cost amortised O(1) per change, whatever the size of the filesystem
/// (a copy would have cost the whole node table on every snapshot).
///
/// The tables change only through the journaling methods below.
struct FilesystemState {
    let index: Int
    let isBtrfs: Bool
    let durability: Durability
    private(set) var nodes = NodeTable()
    private(set) var root: NodeID
    private(set) var subvolumes: [SubvolumeID: SubvolumeState] = [:]
    /// The live subvolumes directly below each subvolume (never an empty
    /// set).
    private(set) var nested: [SubvolumeID: Set<SubvolumeID>] = [:]
    private(set) var nextSubvolumeID: UInt64 = SubvolumeID.firstFree.rawValue
    private(set) var defaultSubvolume = SubvolumeID.topLevel
    /// The mount option that lets the owner of a subvolume delete it.
    let userSubvolumeRemovalAllowed: Bool
    /// The UUID of the filesystem, the seed of its subvolume UUIDs.
    let uuidSeed: UInt64
    /// The changes since the last commit, oldest first.
    private var journal: [UndoRecord] = []
    /// How many changes the tree has seen (entries, attributes, contents,
    /// subvolumes; a crash's roll-back counts too), journaled or not: an
    /// unchanged count is an unchanged filesystem.
    private(set) var changeCount: UInt64 = 0
    /// False on a volatile filesystem (a crash empties it) and while setup
    /// calls are pending (their seal commits everything).
    private(set) var isJournaling: Bool

    /// A filesystem holding only its root directory, the top-level
    /// subvolume on btrfs.
    init(
        index: Int, isBtrfs: Bool, durability: Durability, device: UInt64, userSubvolumeRemovalAllowed: Bool,
        isJournaling: Bool
    ) {
        self.index = index
        self.isBtrfs = isBtrfs
        self.durability = durability
        self.userSubvolumeRemovalAllowed = userSubvolumeRemovalAllowed
        uuidSeed = 0xb7f5_0000_0000_0000 | UInt64(index)
        self.isJournaling = isJournaling && durability != .volatile
        root = NodeID(rawValue: 0)
        root = nodes.append(
            Node(
                type: .directory, parent: nil, subvolume: .topLevel, device: device, inode: subvolumeRootInode,
                owner: 0, group: 0, permissions: 0o755))
        subvolumes[.topLevel] = SubvolumeState(
            id: .topLevel, root: root, uuid: BtrfsUUID(high: uuidSeed, low: 5), parentUUID: .zero,
            receivedUUID: .zero, isReadOnly: false, device: device, parentSubvolume: nil)
    }

    // MARK: Changes

    /// Adds a node; its id is the next position.
    mutating func addNode(_ node: Node) -> NodeID {
        note(.addedNode)
        return nodes.append(node)
    }

    /// Frees a node's storage (a removed node no descriptor points at).
    mutating func freeNode(_ id: NodeID) {
        guard let node = nodes.take(id) else { return }
        if isJournaling { journal.append(.freedNode(id, node)) }
    }

    /// Changes a node's attributes; its children and contents change only
    /// through `setEntry` and `appendContents`.
    mutating func updateAttributes(_ id: NodeID, _ body: (inout Node) -> Void) {
        if isJournaling, var saved = nodes[id] {
            // Without the children: keeping them would make the next entry
            // change copy the whole directory.
            saved.children = [:]
            saved.contents = []
            journal.append(.attributes(id, saved))
        }
        nodes.update(id) { node in
            let entries = node.children.count
            let length = node.contents.count
            body(&node)
            assert(node.children.count == entries && node.contents.count == length, "entries changed unjournaled")
        }
        changeCount &+= 1
    }

    /// Makes `name` in a directory name `child`, or nothing.
    mutating func setEntry(_ name: EntryName, in directory: NodeID, to child: NodeID?) {
        var previous: NodeID?
        nodes.update(directory) { node in
            if let child {
                previous = node.children.updateValue(child, forKey: name)
            } else {
                previous = node.children.removeValue(forKey: name)
            }
        }
        note(.entry(directory: directory, name: name, previous: previous))
    }

    mutating func appendContents(_ bytes: [UInt8], to id: NodeID) {
        var length = 0
        nodes.update(id) { node in
            length = node.contents.count
            node.contents.append(contentsOf: bytes)
        }
        note(.contents(id, length: length))
    }

    mutating func setSubvolume(_ subvolume: SubvolumeState) {
        let previous = subvolumes.updateValue(subvolume, forKey: subvolume.id)
        note(.subvolume(subvolume.id, previous))
    }

    /// Changes a subvolume that exists.
    mutating func updateSubvolume(_ id: SubvolumeID, _ body: (inout SubvolumeState) -> Void) {
        guard var subvolume = subvolumes[id] else { preconditionFailure("unknown subvolume \(id)") }
        note(.subvolume(id, subvolume))
        body(&subvolume)
        subvolumes[id] = subvolume
    }

    mutating func linkSubvolume(_ id: SubvolumeID, below parent: SubvolumeID) {
        let inserted = nested[parent, default: []].insert(id).inserted
        note(.nested(parent: parent, child: id, wasLinked: !inserted))
    }

    mutating func unlinkSubvolume(_ id: SubvolumeID, from parent: SubvolumeID) {
        let removed = nested[parent]?.remove(id)
        if nested[parent]?.isEmpty == true { nested[parent] = nil }
        note(.nested(parent: parent, child: id, wasLinked: removed != nil))
    }

    mutating func allocateSubvolumeID() -> SubvolumeID {
        note(.nextSubvolumeID(nextSubvolumeID))
        defer { nextSubvolumeID += 1 }
        return SubvolumeID(nextSubvolumeID)
    }

    mutating func setDefaultSubvolume(_ id: SubvolumeID) {
        note(.defaultSubvolume(defaultSubvolume))
        defaultSubvolume = id
    }

    private mutating func note(_ record: UndoRecord) {
        changeCount &+= 1
        if isJournaling { journal.append(record) }
    }

    // MARK: Commit and crash

    /// Makes the present state the one a crash returns to.
    mutating func commit() {
        journal.removeAll(keepingCapacity: true)
    }

    /// Setup calls are pending: their seal will commit everything, so
    /// nothing needs journaling until then.
    mutating func suspendJournal() {
        journal = []
        isJournaling = false
    }

    /// The seal of setup calls: everything so far is committed.
    mutating func resumeJournal() {
        journal = []
        isJournaling = durability != .volatile
    }

    /// Undoes every change since the last commit, newest first.
    mutating func rollBack() {
        if !journal.isEmpty { changeCount &+= 1 }
        while let record = journal.popLast() {
            switch record {
            case .addedNode:
                nodes.removeLast()
            case .freedNode(let id, let node):
                nodes[id] = node
            case .attributes(let id, var saved):
                nodes.update(id) { node in
                    swap(&saved.children, &node.children)
                    swap(&saved.contents, &node.contents)
                    node = saved
                }
            case .entry(let directory, let name, let previous):
                nodes.update(directory) { $0.children[name] = previous }
            case .contents(let id, let length):
                nodes.update(id) { $0.contents.removeSubrange(length...) }
            case .subvolume(let id, let previous):
                subvolumes[id] = previous
            case .nested(let parent, let child, let wasLinked):
                if wasLinked {
                    nested[parent, default: []].insert(child)
                } else {
                    nested[parent]?.remove(child)
                    if nested[parent]?.isEmpty == true { nested[parent] = nil }
                }
            case .nextSubvolumeID(let value):
                nextSubvolumeID = value
            case .defaultSubvolume(let id):
                defaultSubvolume = id
            }
        }
    }

    /// The filesystem as a crash leaves a tmpfs: its root, empty.
    func emptied() -> FilesystemState {
        var empty = self
        var rootNode = nodes[root]
        rootNode?.children = [:]
        empty.nodes = NodeTable()
        empty.journal = []
        empty.changeCount &+= 1
        if let rootNode { empty.root = empty.nodes.append(rootNode) }
        return empty
    }
}

/// A change to a filesystem since its last commit, with what it replaced.
enum UndoRecord {
    /// A node was added at the end of the node table.
    case addedNode
    /// A node's storage was freed: the node as it was.
    indirect case freedNode(NodeID, Node)
    /// A node's attributes changed: the node as it was, without children
    /// and contents (they have records of their own).
    indirect case attributes(NodeID, Node)
    /// A directory entry changed: the node it named before, if any.
    case entry(directory: NodeID, name: EntryName, previous: NodeID?)
    /// Bytes were appended to a file: its length before.
    case contents(NodeID, length: Int)
    /// A subvolume changed or appeared: as it was.
    indirect case subvolume(SubvolumeID, SubvolumeState?)
    /// A subvolume was linked below or unlinked from another: whether it
    /// was linked before.
    case nested(parent: SubvolumeID, child: SubvolumeID, wasLinked: Bool)
    case nextSubvolumeID(UInt64)
    case defaultSubvolume(SubvolumeID)
}
