import FSProtocol
import MachineLayout

/// Where an entry is below the machines root: a volume, a machine in it, an
/// entry in that machine's directory.
public struct EntryPath: Hashable, Sendable, CustomStringConvertible {
    public var volume: EntryName
    public var machine: EntryName?
    public var entry: EntryName?

    public init(volume: EntryName, machine: EntryName? = nil, entry: EntryName? = nil) {
        self.volume = volume
        self.machine = machine
        self.entry = entry
    }

    /// The path below `root`, as the diagnostics print it.
    public func rendered(root: String) -> String {
        var path = EntryPath.trimmingTrailingSlashes(root)
        // One line per deleted entry: appended in place, no array of parts.
        path.reserveCapacity(
            path.utf8.count + 3 + volume.rawValue.utf8.count + (machine?.rawValue.utf8.count ?? 0)
                + (entry?.rawValue.utf8.count ?? 0))
        path += "/"
        path += volume.rawValue
        if let machine {
            path += "/"
            path += machine.rawValue
        }
        if let entry {
            path += "/"
            path += entry.rawValue
        }
        return path
    }

    /// `path` without its trailing slashes (`/` for the root directory
    /// gives the empty string, to which `/NAME` is appended).
    /// The root as every line prints it: without trailing slashes, `/`
    /// itself as `/`.
    public static func displayed(root: String) -> String {
        let trimmed = trimmingTrailingSlashes(root)
        return trimmed.isEmpty && !root.isEmpty ? "/" : trimmed
    }

    public static func trimmingTrailingSlashes(_ path: String) -> String {
        // By bytes: a prepended mark before the slash makes one Character
        // of the two, which `removeLast` would take whole.
        let utf8 = path.utf8
        var end = utf8.endIndex
        while end > utf8.startIndex, utf8[utf8.index(before: end)] == UInt8(ascii: "/") { end = utf8.index(before: end) }
        return String(Substring(utf8[..<end]))
    }

    public var description: String { [volume, machine, entry].compactMap { $0?.rawValue }.joined(separator: "/") }
}

/// What the cleanup does with an entry.
public enum PlannedAction: String, Hashable, Sendable, Codable {
    /// Nothing: the entry stays.
    case keep
    /// Delete the subvolume (nested subvolumes first).
    case deleteSubvolume = "delete-subvolume"
    /// Remove a stale lock file.
    case removeLockFile = "remove-lock-file"
    /// Remove the temporary link of a link switch that did not finish.
    case removeTemporaryLink = "remove-temporary-link"
    /// Remove the machine directory of a deleted machine, after its
    /// entries.
    case deleteMachineDirectory = "delete-machine-directory"
    /// Nothing but a diagnostic line: the entry stays.
    case report
}

/// One decision of the plan: an entry, what it was, what happens to it and
/// why.
public struct PlanItem: Hashable, Sendable {
    public var path: EntryPath
    /// What the scan saw.
    public var kind: EntryKind
    /// Who it was when scanned; deletion re-checks it.
    public var identity: FileIdentity
    /// For a subvolume, its id as the listing named it; deletion re-checks
    /// it too, since btrfs reuses the device numbers of deleted subvolumes.
    public var subvolume: SubvolumeID?
    /// The identity of the directory holding it (nil for the root's
    /// entries); the apply step checks it when it reopens that directory.
    public var container: FileIdentity?
    public var action: PlannedAction
    public var reason: Reason

    public init(
        path: EntryPath, kind: EntryKind, identity: FileIdentity, subvolume: SubvolumeID? = nil,
        container: FileIdentity? = nil, action: PlannedAction, reason: Reason
    ) {
        self.path = path
        self.kind = kind
        self.identity = identity
        self.subvolume = subvolume
        self.container = container
        self.action = action
        self.reason = reason
    }
}

/// The decisions for a whole machines root, in the order the diagnostics
/// print them: volumes, machines and entries in byte order of their names,
/// a deleted machine's directory after its entries.
public struct Plan: Hashable, Sendable {
    public var root: String
    public var toolchains: ToolchainSet
    public var items: [PlanItem]

    public init(root: String, toolchains: ToolchainSet, items: [PlanItem]) {
        self.root = root
        self.toolchains = toolchains
        self.items = items
    }
}
