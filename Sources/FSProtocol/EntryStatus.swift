/// What an entry is, as `lstat` sees it: a symbolic link is never followed.
public enum EntryKind: String, Sendable, Codable, CaseIterable {
    /// A symbolic link.
    case symlink
    /// The root directory of a btrfs subvolume (inode 256).
    case subvolume
    /// A directory that is not a subvolume root.
    case directory
    /// A regular file.
    case file
    /// A FIFO, socket or device node.
    case other

    /// Whether the entry is a directory of either kind.
    public var isDirectory: Bool { self == .subvolume || self == .directory }
}

/// The identity of a file: device plus inode number.
///
/// Every btrfs subvolume has its own device number and its root is always
/// inode 256, so the identity of a subvolume root names that subvolume on
/// the host.
public struct FileIdentity: Hashable, Sendable, Codable, CustomStringConvertible {
    public var device: UInt64
    public var inode: UInt64

    public init(device: UInt64, inode: UInt64) {
        self.device = device
        self.inode = inode
    }

    public var description: String { "\(device):\(inode)" }
}

/// The inode number of every btrfs subvolume root
/// (`BTRFS_FIRST_FREE_OBJECTID`).
public let subvolumeRootInode: UInt64 = 256

/// What `lstat` (or `fstat` on an open descriptor) reports about an entry.
public struct EntryStatus: Hashable, Sendable {
    public var kind: EntryKind
    public var identity: FileIdentity
    public var owner: UInt32
    public var group: UInt32
    /// Permission bits (`st_mode & 0o7777`).
    public var permissions: UInt16

    public init(kind: EntryKind, identity: FileIdentity, owner: UInt32, group: UInt32, permissions: UInt16) {
        self.kind = kind
        self.identity = identity
        self.owner = owner
        self.group = group
        self.permissions = permissions
    }
}

/// One entry of a directory listing.
public struct DirectoryEntry: Hashable, Sendable {
    public var name: EntryName
    public var status: EntryStatus
    /// For a subvolume: the id its directory entry names (btrfs reports it
    /// as the entry's inode number in `readdir`). With the device and inode
    /// of `status` it identifies the subvolume even when a deleted
    /// subvolume's device number is reused by a new one.
    public var subvolumeID: SubvolumeID?

    public init(name: EntryName, status: EntryStatus, subvolumeID: SubvolumeID? = nil) {
        self.name = name
        self.status = status
        self.subvolumeID = subvolumeID
    }

    public var kind: EntryKind { status.kind }
}
