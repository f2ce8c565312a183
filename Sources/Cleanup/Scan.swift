import FSProtocol
import MachineLayout

/// What the scan saw of a machines root: every volume, every machine,
/// every entry, with its status as `lstat` reported it.
public struct TreeScan: Hashable, Sendable {
    /// The machines root, absolute.
    public var root: String
    public var volumes: [VolumeScan]

    public init(root: String, volumes: [VolumeScan]) {
        self.root = root
        self.volumes = volumes
    }

    /// How many entries the scan saw at every level, an upper bound of the
    /// plan's items.
    public var entryCount: Int {
        volumes.reduce(0) { count, volume in
            guard case .listed(let machines) = volume.content else { return count + 1 }
            return machines.reduce(count + 1) { count, machine in
                guard case .listed(let directory) = machine.content else { return count + 1 }
                return count + 2 + directory.entries.count
            }
        }
    }
}

/// One entry of the machines root.
public struct VolumeScan: Hashable, Sendable {
    public var name: EntryName
    public var status: EntryStatus
    public var content: Content<[MachineScan]>

    public init(name: EntryName, status: EntryStatus, content: Content<[MachineScan]>) {
        self.name = name
        self.status = status
        self.content = content
    }
}

/// One entry of a volume.
public struct MachineScan: Hashable, Sendable {
    public var name: EntryName
    public var status: EntryStatus
    public var content: Content<MachineDirectory>

    public init(name: EntryName, status: EntryStatus, content: Content<MachineDirectory>) {
        self.name = name
        self.status = status
        self.content = content
    }
}

/// What a directory held, or why the scan did not look inside.
public enum Content<Listing: Hashable & Sendable>: Hashable, Sendable {
    /// Read.
    case listed(Listing)
    /// Not looked into: not a directory, or a name the grammar rules out.
    case skipped
    /// Gone between the listing of its parent and the opening (`noEntry`).
    case vanished
    /// It could not be opened or listed.
    case unreadable(FSError)
}

/// The entries of one machine directory and its current link.
public struct MachineDirectory: Hashable, Sendable {
    public var entries: [DirectoryEntry]
    public var link: CurrentLink
    /// Without a current link: the other symbolic links of the directory
    /// and their targets (nil: unreadable), read so that the plan can tell
    /// a machine being deleted from a layout it does not recognise. Empty
    /// when the machine has its link.
    public var otherLinks: [EntryName: String?]
    /// The revisions (`<m>-<N>` subvolumes) that are not read-only: an
    /// interrupted receive or ownership change, never a valid revision.
    public var writableRevisions: Set<EntryName>

    public init(
        entries: [DirectoryEntry], link: CurrentLink, otherLinks: [EntryName: String?] = [:],
        writableRevisions: Set<EntryName> = []
    ) {
        self.entries = entries
        self.link = link
        self.otherLinks = otherLinks
        self.writableRevisions = writableRevisions
    }
}

extension MachineDirectory {
    /// The entry named `name`, found by bisection (entries are sorted).
    public func entry(named name: EntryName) -> DirectoryEntry? {
        var low = entries.startIndex
        var high = entries.endIndex
        while low < high {
            let middle = (low + high) / 2
            if entries[middle].name < name { low = middle + 1 } else { high = middle }
        }
        return low < entries.endIndex && entries[low].name == name ? entries[low] : nil
    }
}

/// The entry `<m>` of a machine directory, the machine's commit point.
public enum CurrentLink: Hashable, Sendable {
    /// No entry `<m>`: the machine is being deleted.
    case absent
    /// A symbolic link and its target as written.
    case symlink(target: String)
    /// Something else under the link's name.
    case notSymlink(EntryKind)
    /// The link could not be read.
    case unreadable(FSError)
}

/// The part of a machines root a scan looks at: a volume, or one machine
/// of it.
public struct ScanScope: Hashable, Sendable {
    public var volume: EntryName
    public var machine: EntryName?

    public init(volume: EntryName, machine: EntryName? = nil) {
        self.volume = volume
        self.machine = machine
    }
}

/// Walks a machines root through the protocol, never following a link.
public struct Scanner: Sendable {
    public let fileSystem: any FileSystem
    /// Only this volume (and in it only this machine) is looked at.
    public let scope: ScanScope?

    public init(fileSystem: any FileSystem, scope: ScanScope? = nil) {
        self.fileSystem = fileSystem
        self.scope = scope
    }

    /// Scans the tree below `rootPath`. Only the root itself failing throws;
    /// anything below is recorded where it happened.
    public func scan(rootPath: String) async throws(FSError) -> TreeScan {
        try await fileSystem.withRoot(rootPath) { root throws(FSError) in
            var volumes: [VolumeScan] = []
            for entry in try await fileSystem.list(root) {
                if let scope, entry.name != scope.volume { continue }
                let content: Content<[MachineScan]>
                if entry.kind.isDirectory, entry.name.isExact, !entry.name.rawValue.startsWithBytes(".") {
                    content = await scanVolume(entry.name, in: root)
                } else {
                    content = .skipped
                }
                volumes.append(VolumeScan(name: entry.name, status: entry.status, content: content))
            }
            return TreeScan(root: rootPath, volumes: volumes)
        }
    }

    private func scanVolume(_ name: EntryName, in root: DirectoryHandle) async -> Content<[MachineScan]> {
        do throws(FSError) {
            return .listed(
                try await fileSystem.withDirectory(name, in: root) { volume throws(FSError) in
                    var machines: [MachineScan] = []
                    for entry in try await fileSystem.list(volume) {
                        if let machine = scope?.machine, entry.name != machine { continue }
                        let content: Content<MachineDirectory>
                        if entry.kind.isDirectory, MachineNaming.isMachineName(entry.name) {
                            content = await scanMachine(entry.name, in: volume)
                        } else {
                            content = .skipped
                        }
                        machines.append(MachineScan(name: entry.name, status: entry.status, content: content))
                    }
                    return machines
                })
        } catch {
            return error.kind == .noEntry ? .vanished : .unreadable(error)
        }
    }

    /// The revision subvolumes of a machine directory whose read-only flag
    /// is clear. One that cannot be read counts as read-only: in doubt, a
    /// revision is valid.
    private func writableRevisions(of machine: EntryName, in directory: DirectoryHandle, entries: [DirectoryEntry])
        async -> Set<EntryName>
    {
        var writable: Set<EntryName> = []
        for entry in entries where entry.kind == .subvolume {
            guard case .revision = MachineEntryName(classifying: entry.name, machine: machine) else { continue }
            let isReadOnly = try? await fileSystem.withDirectory(entry.name, in: directory) {
                subvolume throws(FSError) in try await fileSystem.subvolumeInfo(of: subvolume).isReadOnly
            }
            if isReadOnly == false { writable.insert(entry.name) }
        }
        return writable
    }

    private func scanMachine(_ name: EntryName, in volume: DirectoryHandle) async -> Content<MachineDirectory> {
        do throws(FSError) {
            return .listed(
                try await fileSystem.withDirectory(name, in: volume) { machine throws(FSError) in
                    let entries = try await fileSystem.list(machine)
                    let link: CurrentLink
                    if let entry = entries.first(where: { $0.name == name }) {
                        if entry.kind == .symlink {
                            do throws(FSError) {
                                link = .symlink(target: try await fileSystem.readLink(name, in: machine))
                            } catch {
                                link = error.kind == .noEntry ? .absent : .unreadable(error)
                            }
                        } else {
                            link = .notSymlink(entry.kind)
                        }
                    } else {
                        link = .absent
                    }
                    let writable = await writableRevisions(of: name, in: machine, entries: entries)
                    guard case .absent = link else {
                        return MachineDirectory(entries: entries, link: link, writableRevisions: writable)
                    }
                    var otherLinks: [EntryName: String?] = [:]
                    // A link that cannot be read (its target not UTF-8, or
                    // its name: no call takes that) may name one of the
                    // machine's subvolumes: nil, in doubt.
                    for entry in entries where entry.kind == .symlink {
                        do throws(FSError) {
                            otherLinks[entry.name] = try await fileSystem.readLink(entry.name, in: machine)
                        } catch where error.kind == .noEntry {
                            continue
                        } catch {
                            otherLinks[entry.name] = .some(nil)
                        }
                    }
                    return MachineDirectory(
                        entries: entries, link: link, otherLinks: otherLinks, writableRevisions: writable)
                })
        } catch {
            return error.kind == .noEntry ? .vanished : .unreadable(error)
        }
    }
}
