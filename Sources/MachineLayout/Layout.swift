import FSProtocol

/// A machines tree written down, one entry per line: what tests, scenarios
/// and `cleanup --layout` start from, and what a run's end state is
/// compared with.
///
/// ```
/// # comments run to the end of the line
/// root /build/machines                 # where the tree lives (this is the default)
/// volume default                       # a btrfs filesystem mounted at root/default
/// dir    default/m                     # a plain directory
/// subvol default/m/m-1 ro received     # a subvolume: read-only, received
/// subvol default/m/m-default snapshot-of=default/m/m-1
/// link   default/m/m -> m-1            # a symbolic link and its target
/// file   default/m/m-default.lock
/// fifo   default/m/pipe
/// mount  default/m/m-x/mnt             # something mounted there at run time
/// tmpfs  /var/lock                     # an absolute path leaves the root
/// ```
///
/// Flags: `ro`, `received`, `default` (the filesystem's default subvolume),
/// `snapshot-of=PATH`, `owner=UID[:GID]`, `mode=OCTAL`, and on a volume
/// `nouser_subvol_rm_allowed`. Missing parents are created: a missing first
/// level below the root as a volume (each volume of Build OS is its own
/// btrfs), deeper ones as plain directories. With `root PATH btrfs` the
/// root itself is one btrfs filesystem and everything below it lives there.
/// A name with spaces or quotes is written in double quotes with `\"`,
/// `\\`, `\n`, `\r` and `\t` escapes. `docs/layout-format.md` lists what
/// a layout may not say (names and link targets Linux cannot store, flags
/// without their values, ...).
public struct Layout: Hashable, Sendable {
    /// The machines root, absolute.
    public var root: String
    /// Whether the root is itself one btrfs filesystem.
    public var rootIsBtrfs: Bool
    public var entries: [LayoutEntry]
    /// The line of the text each entry was read from (empty for a layout
    /// built in code or captured from a host), for error messages: not
    /// part of the layout's value.
    public var sourceLines: [Int] = []

    public init(root: String = Layout.defaultRoot, rootIsBtrfs: Bool = false, entries: [LayoutEntry] = []) {
        self.root = root
        self.rootIsBtrfs = rootIsBtrfs
        self.entries = entries
    }

    /// Paths and targets compare by their bytes, as the kernel's names do
    /// (see `EntryName`).
    public static func == (lhs: Layout, rhs: Layout) -> Bool {
        EntryName.sameBytes(lhs.root, rhs.root) && lhs.rootIsBtrfs == rhs.rootIsBtrfs && lhs.entries == rhs.entries
    }

    public func hash(into hasher: inout Hasher) {
        EntryName.hashBytes(of: root, into: &hasher)
        hasher.combine(rootIsBtrfs)
        hasher.combine(entries)
    }

    /// The line an entry was read from, when it was read from text.
    public func sourceLine(ofEntry index: Int) -> Int? {
        sourceLines.indices.contains(index) ? sourceLines[index] : nil
    }

    public static let defaultRoot = "/build/machines"

    /// The absolute path of an entry path as written (relative to the root
    /// unless it starts with `/`).
    public func absolutePath(_ path: String) -> String {
        if path.startsWithBytes("/") { return path }
        return root == "/" ? "/" + path : root + "/" + path
    }
}

/// One line of a layout.
public struct LayoutEntry: Hashable, Sendable {
    public enum Kind: String, Hashable, Sendable, CaseIterable {
        case volume, tmpfs, dir, subvol, file, link, fifo, mount
    }

    public var kind: Kind
    /// As written: relative to the root, or absolute.
    public var path: String
    public var readOnly = false
    public var received = false
    public var isDefault = false
    public var snapshotOf: String?
    public var owner: UInt32 = 0
    public var group: UInt32 = 0
    public var mode: UInt16?
    /// The target of a link.
    public var target: String?
    /// For a volume: mounted with `user_subvol_rm_allowed` (Build OS does).
    public var userSubvolumeRemovalAllowed = true

    public init(_ kind: Kind, _ path: String) {
        self.kind = kind
        self.path = path
    }

    /// Paths and targets compare by their bytes, as the kernel's names do
    /// (see `EntryName`): "caf\u{e9}" and "cafe\u{301}" are two entries.
    /// Written out because the synthesized `==` would compare the strings
    /// canonically: a field added to `LayoutEntry` must be added here and
    /// to `hash(into:)`.
    public static func == (lhs: LayoutEntry, rhs: LayoutEntry) -> Bool {
        lhs.kind == rhs.kind && lhs.readOnly == rhs.readOnly && lhs.received == rhs.received
            && lhs.isDefault == rhs.isDefault && lhs.owner == rhs.owner && lhs.group == rhs.group
            && lhs.mode == rhs.mode && lhs.userSubvolumeRemovalAllowed == rhs.userSubvolumeRemovalAllowed
            && EntryName.sameBytes(lhs.path, rhs.path) && sameBytes(lhs.snapshotOf, rhs.snapshotOf)
            && sameBytes(lhs.target, rhs.target)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(kind)
        EntryName.hashBytes(of: path, into: &hasher)
        hasher.combine(readOnly)
        hasher.combine(received)
        hasher.combine(isDefault)
        hasher.combine(owner)
        hasher.combine(group)
        hasher.combine(mode)
        hasher.combine(userSubvolumeRemovalAllowed)
        for text in [snapshotOf, target] {
            hasher.combine(text != nil)
            if let text { EntryName.hashBytes(of: text, into: &hasher) }
        }
    }

    private static func sameBytes(_ left: String?, _ right: String?) -> Bool {
        switch (left, right) {
        case (nil, nil): true
        case (let left?, let right?): EntryName.sameBytes(left, right)
        default: false
        }
    }
}

/// A layout line that cannot be read.
public struct LayoutError: Error, Hashable, Sendable, CustomStringConvertible {
    public var line: Int
    public var message: String

    public init(line: Int, message: String) {
        self.line = line
        self.message = message
    }

    public var description: String { "line \(line): \(message)" }
}
