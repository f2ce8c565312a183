import Cleanup
import FSProtocol
import MachineLayout
import SimFS

/// A subvolume on the host: its filesystem and id.
struct SubvolumeKey: Hashable, Sendable {
    var filesystem: Int
    var id: SubvolumeID

    init(_ record: SubvolumeRecord) {
        filesystem = record.filesystem
        id = record.id
    }

    init(filesystem: Int, id: SubvolumeID) {
        self.filesystem = filesystem
        self.id = id
    }
}

/// What a process is to the invariants.
enum ProcessRole: Hashable, Sendable {
    case agent, cleanup, other
}

/// One thing that happened in a run, with the facts about the host the
/// invariant checks need, taken when it happened: the checks read nothing
/// else, so they run on any recorded sequence of these.
enum RunEvent: Hashable, Sendable {
    /// A process started (pids start over after a host crash), and the
    /// name messages give it.
    case started(pid: Int32, role: ProcessRole, name: String)
    /// A process died (killed, or the host crashed).
    case died(pid: Int32)
    /// A protocol call (its subject, as traces print it) and what it
    /// changed.
    case call(
        pid: Int32, operation: FSOperation, subject: String, error: FSError.Kind?, injected: Bool, effects: [RunEffect])
    /// A path-based tool of the process resolved a link.
    case followedLink(pid: Int32, path: String)
    /// A virtual machine started or stopped in a subvolume.
    case machine(pid: Int32, subvolume: SubvolumeKey, running: Bool)
    /// A boot cleanup finished: the paths it reported, whether another
    /// actor that changes the tree (an agent, an administrator, a script, a
    /// machine command) ran beside it, the machines root after it.
    case bootCleanupFinished(reported: Set<ExactText>, othersRan: Bool, root: Layout)
    /// The run is over: the machines root, the read-only property of the
    /// subvolumes a cleanup changed, where they still are, and the paths
    /// the last cleanup reported.
    case end(root: Layout, readOnlyNow: [SubvolumeKey: Bool], reported: Set<ExactText>)
}

/// What a call changed, with what the checks need to know of the tree at
/// that moment.
enum RunEffect: Hashable, Sendable {
    case createdSubvolume(SubvolumeKey, path: String)
    /// `linkTarget`: the current link of the machine directory the
    /// subvolume was in, when it was three levels below the root.
    case deletedSubvolume(SubvolumeKey, path: String, linkTarget: String?)
    /// `complete`: for a subvolume renamed to a bootstrapped machine's
    /// name, whether its bootstrap had finished.
    case renamed(to: String, kind: EntryKind, subvolume: SubvolumeKey?, complete: Bool)
    case setReadOnly(SubvolumeKey, path: String, readOnly: Bool)
}

/// The invariants of SPEC §6 (and 0: the run itself is sound), checked
/// over a sequence of `RunEvent`s: 1 to 5 on every call, 6 when a boot
/// cleanup finishes, 5 and 7 at the end; 8 compares runs (`Explorer`).
struct InvariantChecker {
    let root: String
    let toolchains: ToolchainSet
    private(set) var violations: [Violation] = []

    private var live: [Int32: ProcessRole] = [:]
    private var names: [Int32: String] = [:]
    /// Subvolumes an agent created and still uses (until it deletes or
    /// publishes them, or dies).
    private var owned: [SubvolumeKey: Int32] = [:]
    /// Subvolumes a virtual machine runs in, and the agent running it.
    private var running: [SubvolumeKey: Int32] = [:]
    /// Subvolumes whose read-only property a cleanup changed: their path
    /// and the property before the first change.
    private(set) var flippedByCleanup: [SubvolumeKey: (path: String, wasReadOnly: Bool)] = [:]
    /// The link a path-based tool of a process just followed.
    private var followedLinks: [Int32: String] = [:]

    init(root: String, toolchains: ToolchainSet) {
        self.root = root
        self.toolchains = toolchains
    }

    /// Whether a call can matter to the checks: one that changed something,
    /// a destructive one that succeeded (invariant 3), a close of a
    /// descriptor that was not open (0). Most calls (lists, statuses,
    /// opens) do not, and are not recorded.
    static func concerns(_ event: SimulatedEvent) -> Bool {
        if !event.effects.isEmpty { return true }
        let operation = event.call.operation
        if operation == .close { return event.error?.kind == .badDescriptor }
        return event.error == nil && operation.isDestructive
    }

    /// How messages name a process.
    func name(_ pid: Int32) -> String { names[pid].map { "\($0)[\(pid)]" } ?? "pid \(pid)" }

    mutating func observe(_ event: RunEvent, step: Int) {
        var found: [Violation] = []
        func violate(_ invariant: Int, _ message: String) {
            found.append(Violation(invariant: invariant, message: message, step: step))
        }
        defer { if !found.isEmpty { violations += found } }
        switch event {
        case .started(let pid, let role, let name):
            live[pid] = role
            names[pid] = name
        case .died(let pid):
            live[pid] = nil
        case .followedLink(let pid, let path):
            followedLinks[pid] = path
        case .machine(let pid, let subvolume, let isRunning):
            running[subvolume] = isRunning ? pid : nil
        case .call(let pid, let operation, let subject, let error, let injected, let effects):
            if operation == .close, error == .badDescriptor, !injected {
                // On a real host a double close can close another thread's
                // descriptor: a bug of the actor's code, whatever it does
                // next.
                violate(0, "\(name(pid)) closed a descriptor that was not open")
            }
            if operation.isDestructive, error == nil, let link = followedLinks.removeValue(forKey: pid) {
                let call = subject.isEmpty ? operation.rawValue : "\(operation.rawValue) \(subject)"
                violate(3, "\(name(pid)) followed the link \(link) into \(call)")
            }
            for effect in effects { check(effect, by: pid, in: operation, violate) }
        case .bootCleanupFinished(let reported, let othersRan, let layout):
            if !othersRan { checkAfterBootCleanup(layout, reported: reported, violate) }
        case .end(let layout, let readOnlyNow, let reported):
            for (key, flipped) in flippedByCleanup.sorted(by: { $0.value.path < $1.value.path }) {
                // A cleanup may clear the flag of a subvolume it deletes,
                // and sets it again when that delete fails: what stays must
                // have its flag.
                if let now = readOnlyNow[key], now != flipped.wasReadOnly {
                    violate(5, "the cleanup changed the read-only property of \(flipped.path), which it kept")
                }
            }
            checkDeletedMachinesGone(layout, reported: reported, violate)
        }
    }

    private mutating func check(
        _ effect: RunEffect, by pid: Int32, in operation: FSOperation, _ violate: (Int, String) -> Void
    ) {
        switch effect {
        case .createdSubvolume(let key, let path):
            if live[pid] == .agent { owned[key] = pid }
            if case .bootstrapped = classify(path) {
                violate(4, "\(path) appeared by \(operation.rawValue), not by a rename")
            }
        case .deletedSubvolume(let key, let path, let linkTarget):
            if let linkTarget, let (_, _, entry) = machineEntry(path), EntryName.sameBytes(linkTarget, entry) {
                violate(1, "\(name(pid)) deleted \(path), the target of the current link \(linkPath(of: path))")
            }
            if let runner = running[key], runner != pid, live[runner] != nil {
                violate(2, "\(name(pid)) deleted \(path) while the virtual machine of \(name(runner)) ran in it")
            } else if let owner = owned[key], owner != pid, live[owner] != nil {
                violate(2, "\(name(pid)) deleted \(path), which \(name(owner)) created and uses")
            }
            owned[key] = nil
            running[key] = nil
        case .renamed(let to, let kind, let subvolume, let complete):
            if let subvolume { owned[subvolume] = nil }
            if kind == .subvolume, case .bootstrapped = classify(to), !complete {
                violate(4, "\(name(pid)) published \(to) before its bootstrap completed")
            }
        case .setReadOnly(let key, let path, let readOnly):
            if live[pid] == .cleanup, flippedByCleanup[key] == nil {
                // The cleanup only sets the property to change it.
                flippedByCleanup[key] = (path, !readOnly)
            }
        }
    }

    /// The volume, machine and entry of a path exactly three levels below
    /// the machines root.
    func machineEntry(_ path: String) -> (volume: String, machine: String, entry: String)? {
        let prefix = EntryPath.trimmingTrailingSlashes(root) + "/"
        guard path.startsWithBytes(prefix),
            let (volume, _, machine, entry) = InvariantChecker.threeNames(
                String(Substring(path.utf8.dropFirst(prefix.utf8.count))))
        else { return nil }
        return (String(volume), String(machine), String(entry))
    }

    /// The current link's path of the machine directory holding `path`.
    func linkPath(of path: String) -> String {
        guard let (volume, machine, _) = machineEntry(path) else { return path }
        return InvariantChecker.joined(root, volume + "/" + machine + "/" + machine)
    }

    func classify(_ path: String) -> MachineEntryName? {
        guard let (_, machine, entry) = machineEntry(path), let machineName = EntryName(machine),
            let entryName = EntryName(entry)
        else { return nil }
        return MachineEntryName(classifying: entryName, machine: machineName)
    }

    /// Invariant 6, when a boot cleanup finishes with no agent running:
    /// each machine directory holds only its link and target, revisions,
    /// their received images, bootstrapped machines of configured
    /// toolchains, and entries the cleanup reported (or whose volume,
    /// machine directory or current link it reported).
    private func checkAfterBootCleanup(_ layout: Layout, reported: Set<ExactText>, _ violate: (Int, String) -> Void) {
        // The reported paths below the root, relative to it as the
        // layout's paths are: each lookup is then of a path at hand, not of
        // one built for it.
        let prefix = EntryPath.trimmingTrailingSlashes(root) + "/"
        var reportedBelow: Set<ExactText> = []
        for path in reported where path.text.startsWithBytes(prefix) {
            reportedBelow.insert(ExactText(String(Substring(path.text.utf8.dropFirst(prefix.utf8.count)))))
        }
        var links: [ExactText: String] = [:]
        var paths: Set<ExactText> = []
        for entry in layout.entries {
            paths.insert(ExactText(entry.path))
            if entry.kind == .link { links[ExactText(entry.path)] = entry.target }
        }
        /// What the checks need of a machine directory, read once.
        struct MachineDirectory {
            var machine: EntryName
            /// Kept whole: it, or its volume, was reported.
            var reportedWhole: Bool
            var linkTarget: String?
            var linkInError: Bool
        }
        // nil for a directory whose name is no entry name: remembered too,
        // so that its entries do not ask again.
        var directories: [ExactText: MachineDirectory?] = [:]
        for entry in layout.entries {
            // Entries of machine directories only, three names deep.
            guard let (volume, directory, machineText, entryName) = InvariantChecker.threeNames(entry.path),
                let name = EntryName(String(entryName))
            else { continue }
            if reportedBelow.contains(ExactText(entry.path)) { continue }
            let directoryKey = ExactText(String(directory))
            let known: MachineDirectory?
            if let cached = directories[directoryKey] {
                known = cached
            } else {
                let linkKey = ExactText(directoryKey.text + "/" + machineText)
                known = EntryName(String(machineText)).map { machine in
                    MachineDirectory(
                        machine: machine,
                        reportedWhole: reportedBelow.contains(directoryKey)
                            || reportedBelow.contains(ExactText(String(volume))),
                        linkTarget: links[linkKey],
                        // A machine whose link is in error keeps its
                        // revisions, their images and every bootstrapped
                        // machine (SPEC §3), no more.
                        linkInError: reportedBelow.contains(linkKey))
                }
                directories[directoryKey] = .some(known)
            }
            // A volume or machine directory reported as a whole (not a
            // machine's, a layout not recognised) keeps what it holds.
            guard let known, !known.reportedWhole else { continue }
            let linkTarget = known.linkTarget
            let linkInError = known.linkInError
            let allowed: Bool
            switch MachineEntryName(classifying: name, machine: known.machine) {
            case .currentLink: allowed = entry.kind == .link
            case .revision: allowed = entry.kind == .subvol && (linkTarget != nil || linkInError)
            case .bootstrapped(let toolchain):
                allowed = entry.kind == .subvol && (linkTarget != nil && toolchains.contains(toolchain) || linkInError)
            case .receivedImage(let digits):
                let revision = directoryKey.text + "/" + known.machine.rawValue + "-" + digits
                allowed = entry.kind == .subvol && (linkTarget != nil || linkInError) && paths.contains(ExactText(revision))
            default: allowed = false
            }
            // The link's target, or the subvolume a link in error still
            // names by its last component (`./m-2`, `m-2/`, a path).
            let named = linkTarget.flatMap { EntryName.components(of: $0).last { !$0.utf8.elementsEqual(".".utf8) } }
            if !allowed, !(named.map { EntryName.sameBytes(String($0), name.rawValue) } ?? false) {
                violate(6, "\(InvariantChecker.joined(root, entry.path)) remains after the boot cleanup and was not reported")
            }
        }
    }

    /// A path below `root` as the cleanup's lines write it: one `/`
    /// between them, also when the root is `/` itself.
    static func joined(_ root: String, _ relative: String) -> String {
        root == "/" ? "/" + relative : root + "/" + relative
    }

    /// A relative path of exactly three names, split at its `/` bytes:
    /// the volume, the machine directory's path (`volume/machine`), the
    /// machine and the last name. Nil for any other path.
    static func threeNames(_ path: String)
        -> (volume: Substring, directory: Substring, machine: Substring, name: Substring)?
    {
        let slashes = EntryName.withBytes(of: path) { bytes -> (Int, Int)? in
            var first = -1
            var second = -1
            for index in 0..<bytes.count where bytes[index] == UInt8(ascii: "/") {
                if second >= 0 { return nil }
                if first < 0 { first = index } else { second = index }
            }
            guard first > 0, second > first + 1, second < bytes.count - 1 else { return nil }
            return (first, second)
        }
        guard let (first, second) = slashes else { return nil }
        let count = path.utf8.count
        return (
            EntryName.bytes(of: path, from: 0, to: first), EntryName.bytes(of: path, from: 0, to: second),
            EntryName.bytes(of: path, from: first + 1, to: second), EntryName.bytes(of: path, from: second + 1, to: count)
        )
    }

    /// Invariant 7 at the end: a machine directory without its link (being
    /// deleted) must be gone, unless the last cleanup reported it, its
    /// volume or its link (a directory it does not recognise, or one whose
    /// link is in error, is kept on purpose).
    private func checkDeletedMachinesGone(_ layout: Layout, reported: Set<ExactText>, _ violate: (Int, String) -> Void) {
        let links = Set(layout.entries.filter { $0.kind == .link }.map { ExactText($0.path) })
        for entry in layout.entries where entry.kind == .dir || entry.kind == .subvol {
            let parts = EntryName.components(of: entry.path)
            guard parts.count == 2, MachineNaming.isMachineName(EntryName(String(parts[1])) ?? ".") else { continue }
            let path = InvariantChecker.joined(root, entry.path)
            let kept = [path, InvariantChecker.joined(root, String(parts[0])), path + "/" + parts[1]].contains {
                reported.contains(ExactText($0))
            }
            if links.contains(ExactText(entry.path + "/" + parts[1])) || kept {
                continue
            }
            violate(7, "\(path) has no current link at the end: a deleted machine stays")
        }
    }
}

extension FSOperation {
    /// Whether the operation removes or alters an entry that exists: where
    /// having followed a link does harm (invariant 3). A switch without a
    /// default, so that a new operation must be placed; and no `Set`: a
    /// `String`-backed enum hashes its raw string, on every step.
    var isDestructive: Bool {
        switch self {
        case .deleteSubvolume, .deleteSubvolumeByID, .unlink, .removeDirectory, .rename, .setReadOnly, .changeOwner:
            true
        case .openRoot, .openDirectory, .close, .list, .status, .readLink, .subvolumeInfo, .subvolumeID,
            .nestedSubvolumes, .createSubvolume, .snapshot, .createSymlink, .makeDirectory, .sync, .mountPoints,
            .mountPointsOfSubvolume, .receive,
            .openFile, .createFile, .write, .read, .lock, .lockStatus:
            false
        }
    }
}
