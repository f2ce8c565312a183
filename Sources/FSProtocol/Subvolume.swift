/// The id of a btrfs subvolume, unique within its filesystem.
public struct SubvolumeID: RawRepresentable, Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var rawValue: UInt64

    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }

    /// The top-level subvolume of every btrfs filesystem
    /// (`BTRFS_FS_TREE_OBJECTID`).
    public static let topLevel = SubvolumeID(5)
    /// The first id a created subvolume can get
    /// (`BTRFS_FIRST_FREE_OBJECTID`).
    public static let firstFree = SubvolumeID(256)

    public static func < (lhs: SubvolumeID, rhs: SubvolumeID) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { String(rawValue) }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(UInt64.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// A btrfs UUID (subvolume UUID, parent UUID or received UUID).
public struct BtrfsUUID: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The sixteen bytes, most significant first.
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// The UUID of sixteen bytes in their on-disk order.
    public init<Bytes: Collection<UInt8>>(bytes: Bytes) {
        precondition(bytes.count == 16, "a UUID has sixteen bytes")
        var high: UInt64 = 0
        var low: UInt64 = 0
        for (index, byte) in bytes.enumerated() {
            if index < 8 { high = high << 8 | UInt64(byte) } else { low = low << 8 | UInt64(byte) }
        }
        self.init(high: high, low: low)
    }

    /// All zeroes: "none" in every btrfs UUID field.
    public static let zero = BtrfsUUID(high: 0, low: 0)

    public var isZero: Bool { high == 0 && low == 0 }

    /// The bytes in their on-disk order.
    public var bytes: [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * $0)) }
            + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * $0)) }
    }

    /// The usual 8-4-4-4-12 rendering, or `-` for zero as btrfs-progs
    /// prints it.
    public var description: String {
        if isZero { return "-" }
        let hex = bytes.map { byte -> String in
            let digits = String(byte, radix: 16)
            return digits.count == 1 ? "0" + digits : digits
        }
        let groups = [0..<4, 4..<6, 6..<8, 8..<10, 10..<16]
        return groups.map { hex[$0].joined() }.joined(separator: "-")
    }
}

/// What btrfs reports about one subvolume.
public struct SubvolumeInfo: Hashable, Sendable {
    public var id: SubvolumeID
    /// The subvolume that contains this one, nil for the top level.
    public var parentID: SubvolumeID?
    public var uuid: BtrfsUUID
    /// The UUID of the subvolume this one is a snapshot of; zero when it is
    /// not a snapshot.
    public var parentUUID: BtrfsUUID
    /// The UUID of the subvolume this one was received from; zero when it
    /// was not received.
    public var receivedUUID: BtrfsUUID
    public var isReadOnly: Bool

    public init(
        id: SubvolumeID, parentID: SubvolumeID?, uuid: BtrfsUUID, parentUUID: BtrfsUUID,
        receivedUUID: BtrfsUUID, isReadOnly: Bool
    ) {
        self.id = id
        self.parentID = parentID
        self.uuid = uuid
        self.parentUUID = parentUUID
        self.receivedUUID = receivedUUID
        self.isReadOnly = isReadOnly
    }
}

/// A subvolume below another one, as the subvolume iterator yields it.
public struct NestedSubvolume: Hashable, Sendable {
    /// The path from the outer subvolume's root, `/`-separated, with each
    /// component that is not UTF-8 rendered as a listing renders its name
    /// (`a\xff`).
    public var path: String
    public var id: SubvolumeID
    /// Whether `path` holds the exact bytes: false when a component is a
    /// rendering, which no call takes (and which another component's exact
    /// bytes can spell: `a\xff` with a backslash), so the path cannot be
    /// opened; the id still names the subvolume.
    public var isExact: Bool

    public init(path: String, id: SubvolumeID, isExact: Bool = true) {
        self.path = path
        self.id = id
        self.isExact = isExact
    }
}
