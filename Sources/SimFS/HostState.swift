import FSProtocol

/// A node of the simulated tree: directory, file, symbolic link or special
/// file. Stored per filesystem, addressed by `NodeID`.
struct Node {
    enum NodeType {
        case directory, file, symlink, special
    }

    var type: NodeType
    /// The directory holding this node (a directory's `..`); nil for the
    /// root of a filesystem. Kept after the node is cut from the tree.
    var parent: NodeID?
    /// The node's name in `parent`.
    var name: EntryName?
    /// The subvolume this node lives in (its own id for a subvolume root).
    var subvolume: SubvolumeID
    /// The device number of `subvolume`, kept here so that a status needs
    /// no subvolume lookup.
    var device: UInt64
    var inode: UInt64
    var owner: UInt32
    var group: UInt32
    var permissions: UInt16
    /// False once the node was removed from the tree; it lives on while a
    /// handle points at it, like an inode with open descriptors.
    var isAttached = true
    /// A snapshot's stand-in for a nested subvolume: the kernel's empty
    /// directory of inode 2, which has no operations of its own and so
    /// takes no entry (`refuseEntries(in:by:with:)`) and cannot move.
    var isStandIn = false
    var children: [EntryName: NodeID] = [:]
    var contents: [UInt8] = []
    var linkTarget = ""
    /// A link's target when its bytes are not UTF-8 (`linkTarget` then
    /// holds a rendering): reading it gives `notUTF8`, following it walks
    /// these bytes.
    var linkTargetBytes: [UInt8]?
}

/// A node id: its position in its filesystem's node table.
struct NodeID: Hashable, Comparable, Sendable {
    var rawValue: UInt64
    static func < (lhs: NodeID, rhs: NodeID) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// The nodes of one filesystem. A node's id is its position, so that a
/// lookup costs no hashing; a removed node leaves a hole.
struct NodeTable {
    private var storage: ContiguousArray<Node?> = []

    subscript(id: NodeID) -> Node? {
        get {
            let index = Int(id.rawValue)
            return index < storage.count ? storage[index] : nil
        }
        set { storage[Int(id.rawValue)] = newValue }
        _modify { yield &storage[Int(id.rawValue)] }
    }

    /// Changes a node in place. It takes the node out while `body` runs, so
    /// that its children are not copied on write.
    mutating func update(_ id: NodeID, _ body: (inout Node) -> Void) {
        let index = Int(id.rawValue)
        guard index < storage.count, case .some(var node) = storage[index] else {
            preconditionFailure("dangling node \(id.rawValue)")
        }
        storage[index] = nil
        body(&node)
        storage[index] = node
    }

    /// The positions held, holes included: an upper bound of the nodes.
    var positions: Int { storage.count }

    /// Adds a node; its id is the next position.
    mutating func append(_ node: Node) -> NodeID {
        storage.append(node)
        return NodeID(rawValue: UInt64(storage.count - 1))
    }

    /// Takes a node out, leaving a hole.
    mutating func take(_ id: NodeID) -> Node? {
        let index = Int(id.rawValue)
        guard index < storage.count else { return nil }
        return storage[index].take()
    }

    /// Removes the last position (undoing `append`).
    mutating func removeLast() {
        storage.removeLast()
    }
}

/// A node on a given filesystem.
struct NodeRef: Hashable, Comparable, Sendable {
    var filesystem: Int
    var node: NodeID
    static func < (lhs: NodeRef, rhs: NodeRef) -> Bool {
        (lhs.filesystem, lhs.node.rawValue) < (rhs.filesystem, rhs.node.rawValue)
    }
}

/// One btrfs subvolume of a simulated filesystem.
struct SubvolumeState {
    var id: SubvolumeID
    var root: NodeID
    var uuid: BtrfsUUID
    var parentUUID: BtrfsUUID
    var receivedUUID: BtrfsUUID
    var isReadOnly: Bool
    var device: UInt64
    /// The subvolume holding this one's root; nil for the top level.
    var parentSubvolume: SubvolumeID?
    var nextInode: UInt64 = subvolumeRootInode + 1
    var isDeleted = false
}

/// What survives a host crash on a filesystem.
enum Durability: Sendable {
    /// btrfs: the state of the last committed transaction (a sync, a
    /// snapshot, or the periodic commit) comes back.
    case btrfs
    /// tmpfs: nothing survives; the filesystem comes back empty.
    case volatile
    /// A root filesystem from an image: it comes back as it was set up.
    case image
}

/// A filesystem mounted on a directory.
struct MountState {
    /// The root of the mounted filesystem.
    var root: NodeRef
    /// Whether the mount comes back after a crash (an fstab volume) or not
    /// (a bind or tmpfs mount made at run time).
    var isPersistent: Bool
}

/// An open file description: what a descriptor points at.
struct OpenDescription {
    var id: UInt64
    var node: NodeRef
    var isDirectory: Bool
    var isWritable: Bool
    /// Whether `openRoot` followed a symbolic link to reach the node.
    var reachedThroughSymlink = false
}

/// One simulated process.
struct ProcessState {
    var pid: Int32
    /// The boot the process runs in: process ids start over after a
    /// crash, so a pid alone does not name a process.
    var boot: Int
    var credentials: Credentials
    var isAlive = true
    var descriptors = IndexedTable<OpenDescription>()
}

/// The whole simulated host: its filesystems, mounts, processes and locks.
struct HostState {
    var filesystems: [FilesystemState] = []
    var mounts: [NodeRef: MountState] = [:]
    /// The directory each mounted root is mounted on (its `..`).
    var mountedOn: [NodeRef: NodeRef] = [:]
    /// For each directory with mount points at or below it on its own
    /// filesystem, how many: a subvolume's mount check and delete look at
    /// the mounts only when there is one inside.
    var mountsBelow: [NodeRef: Int] = [:]
    /// How many mounts and unmounts there were.
    var mountChanges: UInt64 = 0
    var rootFilesystem = 0
    var processes = IndexedTable<ProcessState>(base: 100)
    var firstPID: Int32 = 100
    var nextPID: Int32 = 100
    /// Incremented by each crash.
    var boot = 0
    var nextDevice: UInt64 = 40
    var nextOpenDescription: UInt64 = 1
    var uuidCounter: UInt64 = 0
    /// Which open file description holds the lock of a file.
    var locks: [NodeRef: UInt64] = [:]
    /// How many descriptors point at each node that has one: whether a
    /// removed node must live on is one lookup.
    var openCounts: [NodeRef: Int] = [:]
    /// Setup calls were made since the last seal (see `sealPendingSetup`).
    var setupIsPending = false
    /// While a layout loads (nothing but setup calls): the directory each
    /// parent path led to, so that a path is walked once, not once per
    /// entry below it. Nil otherwise; a new mount empties it.
    var setupParents: [ExactText: NodeRef]?
    /// Effects of the current call, collected while an observer listens.
    var isRecordingEffects = false
    var effects: [SimulatedEffect] = []
    var gate: (any SimulationGate)?
    var observer: (any SimulationObserver)?
}
