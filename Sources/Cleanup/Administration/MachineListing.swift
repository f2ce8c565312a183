#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
import FSProtocol
import MachineLayout

/// `machine list`: every volume and machine, what each holds, and what the
/// cleanup would report about it. It takes no lock and changes nothing
/// (a lock is looked at, never taken).
public struct MachineListing: Hashable, Sendable, Codable {
    public var version = 1
    public var root: String
    /// The configured toolchains the problems were judged against (nil:
    /// none given, so unconfigured bootstrapped machines are not judged).
    public var toolchains: [String]?
    public var machines: [Machine]
    /// The cleanup's lines about what is no listed machine: the root, a
    /// volume or a machine entry that is not a directory, a link, a name
    /// that is not UTF-8, ... (`path: level: message`).
    public var problems: [String] = []
    /// Only in the document of a listing refused before it was made (a
    /// scope that is not there, a configuration or a root it cannot use):
    /// its exit status and error.
    public var exitStatus: Int32?
    public var error: Refusal?

    public struct Refusal: Hashable, Sendable, Codable {
        public var code: String
        public var message: String
    }

    /// The document of a refused listing: no machines, the error.
    public static func refusalJSON(root: String, code: String, message: String, status: Int32) -> String {
        var listing = MachineListing(root: root, toolchains: nil, machines: [])
        listing.exitStatus = status
        listing.error = Refusal(code: code, message: message)
        return listing.json
    }

    public struct Machine: Hashable, Sendable, Codable {
        public var volume: String
        public var name: String
        /// The current link's target, nil without a valid link.
        public var current: String?
        public var revisions: [String]
        public var receivedImages: [String]
        public var bootstrapped: [Bootstrapped]
        public var workingSnapshots: [WorkingSnapshot]
        public var locks: [Lock]
        /// The cleanup's lines about this machine (`path: level: message`).
        public var problems: [String]
        /// No current link, and no other link naming its subvolumes: a
        /// machine being removed, whose subvolumes a boot cleanup
        /// deletes; `keepsEntries` when its directory then stays (it
        /// holds entries the cleanup keeps: an unknown file, a plain
        /// directory).
        public var beingRemoved = false
        public var keepsEntries = false
    }

    public struct Bootstrapped: Hashable, Sendable, Codable {
        public var name: String
        public var toolchain: String
        /// Made from the current revision (its snapshot's parent is it).
        public var current: Bool
        /// Whether its toolchain is one of those the listing was judged
        /// against (`--toolchain`, `--kernel-cmdline`, `--no-toolchains`);
        /// nil when none were given. Not configured: a boot cleanup with
        /// that configuration deletes it.
        public var configured: Bool?
    }

    public struct WorkingSnapshot: Hashable, Sendable, Codable {
        public var name: String
        public var toolchain: String
        /// The agent's pid from `<tc>-<pid>-<counter>`, when it is one.
        public var pid: Int32?
        /// Whether that process runs.
        public var running: Bool
    }

    public struct Lock: Hashable, Sendable, Codable {
        public var name: String
        public var toolchain: String
        public var held: Bool
    }

    /// Lists the machines below `root`, or only those of `scope`.
    public static func list(
        fileSystem: any FileSystem, root: String, toolchains: ToolchainSet?, scope: ScanScope? = nil
    ) async throws(FSError) -> MachineListing {
        let scan = try await Scanner(fileSystem: fileSystem, scope: scope).scan(rootPath: root)
        let plan = Planner(toolchains: toolchains ?? .none).plan(scan)
        var problems: [ExactText: [String]] = [:]
        let diagnostics = Applier.dryRun(plan).diagnostics
        for diagnostic in diagnostics {
            problems[ExactText(diagnostic.path), default: []].append(diagnostic.line)
        }
        // The machines a boot cleanup deletes for want of their link, and
        // those of them whose directory it keeps.
        var removed: Set<ExactText> = []
        var keeping: Set<ExactText> = []
        for item in plan.items {
            let machinePath = ExactText(EntryPath(volume: item.path.volume, machine: item.path.machine).rendered(root: root))
            switch item.reason {
            case .machineWithoutLink, .emptiedMachineDirectory: removed.insert(machinePath)
            case .machineKeepsEntries: keeping.insert(machinePath)
            default: break
            }
        }
        var attributed: Set<ExactText> = []
        var listing = MachineListing(root: root, toolchains: toolchains?.toolchains.map(\.rawValue), machines: [])
        try await fileSystem.withRoot(root) { rootHandle throws(FSError) in
            for volume in scan.volumes {
                guard case .listed(let machines) = volume.content else { continue }
                for machine in machines {
                    guard case .listed(let directory) = machine.content else { continue }
                    let path = EntryPath(volume: volume.name, machine: machine.name).rendered(root: root)
                    var lines = problems[ExactText(path)] ?? []
                    attributed.insert(ExactText(path))
                    for entry in directory.entries {
                        let entryPath = ExactText(path + "/" + entry.name.rawValue)
                        lines += problems[entryPath] ?? []
                        attributed.insert(entryPath)
                    }
                    var described = await describe(
                        machine.name, in: volume.name, directory: directory, rootHandle: rootHandle,
                        fileSystem: fileSystem, problems: lines, toolchains: toolchains)
                    described.beingRemoved = removed.contains(ExactText(path)) || keeping.contains(ExactText(path))
                    described.keepsEntries = keeping.contains(ExactText(path))
                    listing.machines.append(described)
                }
            }
        }
        listing.problems = diagnostics.filter { !attributed.contains(ExactText($0.path)) }.map(\.line)
        return listing
    }

    /// The agent's pid a working snapshot's name holds, as agents write
    /// it: `<pid>-<counter>`, the pid in decimal digits only; nil for any
    /// other suffix (`-1`, `+1-1`, a counter alone).
    public static func agentPID(in suffix: String) -> Int32? {
        let parts = suffix.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, let pid = parts.first, !pid.isEmpty,
            pid.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        else { return nil }
        return Int32(pid)
    }

    static func describe(
        _ name: EntryName, in volume: EntryName, directory: MachineDirectory, rootHandle: DirectoryHandle,
        fileSystem: any FileSystem, problems: [String], toolchains: ToolchainSet? = nil
    ) async -> Machine {
        var machine = Machine(
            volume: volume.rawValue, name: name.rawValue, current: nil, revisions: [], receivedImages: [],
            bootstrapped: [], workingSnapshots: [], locks: [], problems: problems)
        if case .symlink(let target) = directory.link, let targetName = EntryName(target),
            directory.entry(named: targetName)?.kind == .subvolume
        {
            machine.current = target
        }
        let handle = try? await fileSystem.openDirectory(volume, in: rootHandle)
        let machineHandle: DirectoryHandle? =
            if let handle { try? await fileSystem.openDirectory(name, in: handle) } else { nil }
        func uuid(of entry: EntryName, parent: Bool) async -> BtrfsUUID? {
            guard let machineHandle else { return nil }
            let info = try? await fileSystem.withDirectory(entry, in: machineHandle) { subvolume throws(FSError) in
                try await fileSystem.subvolumeInfo(of: subvolume)
            }
            return parent ? info?.parentUUID : info?.uuid
        }
        let currentUUID: BtrfsUUID? =
            if let current = machine.current.flatMap({ EntryName($0) }) { await uuid(of: current, parent: false) } else { nil }
        for entry in directory.entries {
            switch MachineEntryName(classifying: entry.name, machine: name) {
            // A writable one is no revision (the cleanup says so among
            // the problems): an interrupted receive, or someone's work.
            case .revision where entry.kind == .subvolume && !directory.writableRevisions.contains(entry.name):
                machine.revisions.append(entry.name.rawValue)
            case .receivedImage where entry.kind == .subvolume:
                machine.receivedImages.append(entry.name.rawValue)
            case .bootstrapped(let toolchain) where entry.kind == .subvolume:
                let parent = await uuid(of: entry.name, parent: true)
                machine.bootstrapped.append(
                    Bootstrapped(
                        name: entry.name.rawValue, toolchain: toolchain.rawValue,
                        current: currentUUID != nil && parent == currentUUID,
                        configured: toolchains.map { $0.contains(toolchain) }))
            case .workingSnapshot(let toolchain, let suffix) where entry.kind == .subvolume:
                let pid = Self.agentPID(in: suffix)
                let running = if let pid { await fileSystem.processExists(pid) } else { false }
                machine.workingSnapshots.append(
                    WorkingSnapshot(name: entry.name.rawValue, toolchain: toolchain.rawValue, pid: pid, running: running))
            case .lockFile(let toolchain) where entry.kind == .file:
                var held = false
                if let machineHandle {
                    held =
                        (try? await fileSystem.withFile(entry.name, in: machineHandle) { file throws(FSError) in
                            try await fileSystem.isLockHeld(file)
                        }) ?? false
                }
                machine.locks.append(Lock(name: entry.name.rawValue, toolchain: toolchain.rawValue, held: held))
            default:
                break
            }
        }
        if let machineHandle { await fileSystem.close(machineHandle) }
        if let handle { await fileSystem.close(handle) }
        return machine
    }

    /// The listing in words, a block per machine.
    public var textLines: [String] {
        var lines: [String] = []
        for machine in machines {
            let state =
                !machine.beingRemoved
                ? machine.current.map { "current \($0)" } ?? "no current revision"
                : machine.keepsEntries
                    ? "no current link: being removed, a boot cleanup deletes its subvolumes and keeps the directory "
                        + "for what it holds"
                    : "no current link: being removed, a boot cleanup deletes it"
            lines.append("\(machine.volume)/\(machine.name): " + state)
            func add(_ label: String, _ items: [String]) {
                if !items.isEmpty { lines.append("  \(label): " + items.joined(separator: ", ")) }
            }
            add("revisions", machine.revisions.map { $0 == machine.current ? "\($0) (current)" : $0 })
            add("received images", machine.receivedImages)
            add(
                "bootstrapped",
                machine.bootstrapped.map { bootstrapped in
                    let made = bootstrapped.current ? "current" : "not from the current revision"
                    let configured = bootstrapped.configured == false ? ", not configured: a boot cleanup deletes it" : ""
                    return "\(bootstrapped.toolchain) (\(made)\(configured))"
                })
            add(
                "working snapshots",
                machine.workingSnapshots.map { snapshot in
                    let process = snapshot.pid.map { "pid \($0) " + (snapshot.running ? "running" : "gone") } ?? "no pid"
                    return "\(snapshot.name) (\(process))"
                })
            add("locks", machine.locks.map { "\($0.name) (\($0.held ? "held" : "free"))" })
            for problem in machine.problems { lines.append("  problem: \(problem)") }
        }
        for problem in problems { lines.append("problem: \(problem)") }
        // One line each, whatever the names hold (`Diagnostic.line`).
        return lines.map(Diagnostic.escapingControlCharacters)
    }

    public var json: String {
        ReportDocument.encoded(self)
    }
}
