import FSProtocol
import MachineLayout

/// `machine add` and `machine upgrade`: a revision from a send stream.
///
/// The stream is received into the machine directory under its own name
/// `<m>-<N>` (a read-only subvolume cannot change directory, so it lands
/// where it stays); the finished receive is renamed `<m>-<N>.received`,
/// the pristine image that keeps its received UUID for the next
/// incremental stream; the revision `<m>-<N>` is a snapshot of it, given
/// to the build user and made read-only, so that no modified copy ever
/// claims a received UUID. Then the link: created last by `add`, switched
/// atomically by `upgrade` (a fresh temporary link renamed over it).
///
/// Each step is chosen from what the directory holds, so that running the
/// command again after a crash finishes the job: a partial receive (a
/// writable `<m>-<N>`) or an unfinished revision is deleted and made
/// again, a finished image or revision is kept.
extension Administration {
    public func add(_ machine: MachineAddress, stream: SendStream, owner: Ownership, dryRun: Bool = false) async
        -> AdministrationReport
    {
        await session("add", machine, dryRun: dryRun) { session throws(AdministrationError) in
            try machine.requireNewNames()
            try await session.requireBtrfsVolume()
            let revision = try session.revisionName(of: stream)
            if stream.header.isIncremental {
                throw .usage(
                    "the stream is incremental (against parent \(stream.header.parent?.uuid.description ?? "-")): "
                        + "add needs a full stream (btrfs send without -p)", code: "incremental-stream")
            }
            let entries = try await session.entries()
            if let target = try await session.currentTarget(in: entries) {
                let image = try session.imageName(of: revision)
                if EntryName.sameBytes(target, revision.rawValue), entries.contains(where: { $0.name == image }),
                    try await session.info(of: image).receivedUUID == stream.header.uuid
                {
                    session.report.notes.append("already added: \(machine) is \(target), from this stream")
                    return
                }
                guard AdministrationSession.subvolume(named: target, in: entries) != nil else {
                    // Not one to upgrade either: say what to correct.
                    throw .usage(
                        "machine \(machine) exists, with a current link in error (\(machine.machine) -> \(target): "
                            + "not a subvolume of the machine directory); correct the link, or `machine remove` "
                            + "the machine first", code: "link-in-error")
                }
                throw .usage(
                    "machine \(machine) exists (current revision \(target)); use `machine upgrade`",
                    code: "machine-exists")
            }
            let allowed: Set<EntryName> = [revision, try session.imageName(of: revision)]
            let strangers = entries.filter { entry in
                if allowed.contains(entry.name) { return false }
                switch MachineEntryName(classifying: entry.name, machine: machine.machine) {
                case .temporaryLink: return entry.kind != .symlink
                // An agent that finds the directory without link takes its
                // lock there (to delete its own bootstrapped machine): its
                // lock file is no stranger, and stays.
                case .lockFile: return entry.kind != .file
                default: return true
                }
            }
            if !strangers.isEmpty {
                throw .usage(
                    "\(machine.path(in: root)) exists and holds \(strangers.map(\.name.rawValue).joined(separator: ", ")), "
                        + "which an interrupted add of \(revision) does not leave: move or delete it first "
                        + "(`machine remove` removes what an old machine of this name left, and refuses anything else)",
                    code: "machine-exists")
            }
            if session.machineHandle == nil {
                try await session.createMachineDirectory(owner: owner)
            } else {
                try await session.ensureOwner(owner)
            }
            try await session.removeTemporaryLinks(in: entries)
            try await session.install(stream, as: revision, owner: owner, entries: entries)
            let link = machine.machine
            let fileSystem = self.fileSystem
            let directory = session.machineHandle
            try await session.step(.createLink, machine.path(of: link, in: root), detail: "-> \(revision)") {
                () throws(FSError) in
                guard let directory else { return }
                try await fileSystem.createSymlink(link, in: directory, target: revision.rawValue)
            }
            try await session.sync()
        }
    }

    public func upgrade(
        _ machine: MachineAddress, stream: SendStream, owner: Ownership, removeOld: Bool = false, dryRun: Bool = false
    ) async -> AdministrationReport {
        await session("upgrade", machine, dryRun: dryRun) { session throws(AdministrationError) in
            let revision = try session.revisionName(of: stream)
            guard session.machineHandle != nil else {
                throw .usage("no machine \(machine): \(machine.path(in: root)) does not exist", code: "no-such-machine")
            }
            let entries = try await session.entries()
            guard let target = try await session.currentTarget(in: entries) else {
                throw .usage(
                    "machine \(machine) has no current link: `machine add` adds it (and finishes an interrupted add)",
                    code: "no-current-revision")
            }
            guard let current = AdministrationSession.subvolume(named: target, in: entries) else {
                throw .usage(
                    "machine \(machine) has a current link in error (\(machine.machine) -> \(target): not a subvolume "
                        + "of the machine directory): correct the link, or `machine remove` the machine and "
                        + "`machine add` it again", code: "no-current-revision")
            }
            if current == revision {
                // A rerun of this upgrade, or another stream of the same
                // name: the image tells.
                try await session.checkCurrent(revision, isFrom: stream, entries: entries)
                session.report.notes.append("already current: \(machine) is \(revision), from this stream")
            } else {
                try session.checkNewer(revision, than: current)
                let parent = try await session.checkParent(of: stream, current: current, entries: entries)
                try await session.removeTemporaryLinks(in: entries)
                try await session.install(stream, as: revision, owner: owner, entries: entries, parent: parent)
                try await session.switchLink(to: revision)
            }
            if removeOld { try await session.removeRevisions(before: revision) }
        }
    }
}

extension AdministrationSession {
    /// The entry a current link's target names when it is a subvolume of
    /// the machine directory (a valid link), else nil.
    static func subvolume(named target: String, in entries: [DirectoryEntry]) -> EntryName? {
        guard let name = EntryName(target), entries.contains(where: { $0.name == name && $0.kind == .subvolume })
        else { return nil }
        return name
    }

    /// The revision `<m>-<N>` the stream names, or the error.
    func revisionName(of stream: SendStream) throws(AdministrationError) -> EntryName {
        let name = stream.header.name
        guard case .revision = MachineEntryName(classifying: name, machine: machine.machine) else {
            throw .usage(
                "the stream's subvolume is named \(name), not \(machine.machine)-<N> (a revision of \(machine.machine))",
                code: "stream-name")
        }
        return name
    }

    func imageName(of revision: EntryName) throws(AdministrationError) -> EntryName {
        let digits = String(Substring(revision.rawValue.utf8.dropFirst(machine.machine.rawValue.utf8.count + 1)))
        guard let image = MachineNaming.receivedImage(machine.machine, revision: digits) else {
            throw .usage("the revision name \(revision) leaves no room for its image's name", code: "stream-name")
        }
        return image
    }

    /// The current revision has the stream's name: it must come from this
    /// stream (its image has the stream's received UUID; or, received by
    /// hand without image, the revision has), else the stream is another
    /// one and nothing is done.
    func checkCurrent(_ revision: EntryName, isFrom stream: SendStream, entries: [DirectoryEntry]) async
        throws(AdministrationError)
    {
        let image = try imageName(of: revision)
        let base = entries.contains(where: { $0.name == image && $0.kind == .subvolume }) ? image : revision
        let received = try await info(of: base).receivedUUID
        guard received != stream.header.uuid else { return }
        throw .usage(
            "\(machine) is already at \(revision), which does not come from this stream (\(base) has received UUID "
                + "\(received), the stream \(stream.header.uuid)): nothing was changed; send the new revision "
                + "under a new number", code: "revision-exists")
    }

    /// An upgrade does not go back: a stream of a revision numbered below
    /// the current one (a command replayed after a later upgrade, say)
    /// would switch the machine back. A rollback is a link switch by hand.
    func checkNewer(_ revision: EntryName, than current: EntryName) throws(AdministrationError) {
        let machineName = machine.machine
        guard case .revision(let new) = MachineEntryName(classifying: revision, machine: machineName),
            case .revision(let old) = MachineEntryName(classifying: current, machine: machineName),
            Self.precedes(new, old)
        else { return }
        throw .usage(
            "the stream's revision \(revision) is older than the current revision \(current): "
                + "upgrade only goes forward (to go back, switch the link by hand)",
            code: "revision-older")
    }

    /// An incremental stream must apply to the current revision: its
    /// parent is the received UUID of the current revision's image (or,
    /// for a revision received by hand, of the revision itself). The
    /// UUID of that subvolume, which the received revision must be a
    /// snapshot of; nil for a full stream.
    func checkParent(of stream: SendStream, current: EntryName, entries: [DirectoryEntry]) async
        throws(AdministrationError) -> BtrfsUUID?
    {
        guard let parent = stream.header.parent else { return nil }
        var base = current
        if let image = try? imageName(of: current), entries.contains(where: { $0.name == image }) { base = image }
        let info = try await info(of: base)
        guard info.receivedUUID == parent.uuid else {
            throw .usage(
                "the stream is incremental against \(parent.uuid), which is not the current revision \(current) "
                    + "(received UUID \(info.receivedUUID)): send it with -p against \(current)'s image",
                code: "parent-not-current")
        }
        return info.uuid
    }

    /// Deletes every revision numbered below `revision`, each with its
    /// received image (the image first, so that an interruption never
    /// leaves an image without its revision), once the switch to
    /// `revision` is committed. Running `upgrade --remove-old` again after
    /// an interruption finds them by number.
    ///
    /// Only what this command or the manual's procedure makes: a revision
    /// is read-only, an image is read-only with a received UUID. A
    /// writable subvolume under such a name is someone's work (the
    /// cleanup keeps it too): kept, with a note.
    mutating func removeRevisions(before revision: EntryName) async throws(AdministrationError) {
        guard case .revision(let newest) = MachineEntryName(classifying: revision, machine: machine.machine) else { return }
        var old: [EntryName] = []
        let listed = try await entries()
        let named = await namedByOtherLinks(listed)
        for entry in listed where entry.kind == .subvolume {
            let isImage: Bool
            let digits: String
            switch MachineEntryName(classifying: entry.name, machine: machine.machine) {
            case .receivedImage(let number) where Self.precedes(number, newest): (isImage, digits) = (true, number)
            case .revision(let number) where Self.precedes(number, newest): (isImage, digits) = (false, number)
            default: continue
            }
            // A revision and its image stay together: an image kept
            // without its revision would be reported by every cleanup.
            let pair = [
                MachineNaming.revision(machine.machine, digits: digits),
                MachineNaming.receivedImage(machine.machine, revision: digits),
            ]
            if let name = pair.compactMap({ $0 }).first(where: { named[$0] != nil }), let link = named[name] {
                let what = name == entry.name ? "it" : "\(name.rawValue), which it goes with"
                report.notes.append(
                    "kept \(machine.path(of: entry.name, in: root)): "
                        + (link.target.map { "the symbolic link \(link.name) -> \($0) names \(what)" }
                            ?? "the symbolic link \(link.name), whose target cannot be read, may name \(what)"))
                continue
            }
            let info = try await info(of: entry.name)
            guard info.isReadOnly, !isImage || !info.receivedUUID.isZero else {
                report.notes.append(
                    "kept \(machine.path(of: entry.name, in: root)): "
                        + (info.isReadOnly ? "a read-only subvolume without received UUID, which is no received image"
                            : "a writable subvolume, which is no \(isImage ? "received image" : "revision") (someone's work)"))
                continue
            }
            old.append(entry.name)
        }
        // One mounted (a bind mount of it, a mount inside) stays, and its
        // pair with it: deleting the image first would leave the revision
        // alone when the revision is then refused.
        var mounted: [String: (name: EntryName, cause: String)] = [:]
        for name in old {
            guard let digits = Self.revisionDigits(of: name, machine: machine.machine), mounted[digits] == nil,
                let cause = await mountRefusal(of: name)
            else { continue }
            mounted[digits] = (name, cause)
        }
        old.removeAll { name in
            guard let digits = Self.revisionDigits(of: name, machine: machine.machine), let refusal = mounted[digits] else {
                return false
            }
            let what = refusal.name == name ? "" : "\(refusal.name.rawValue), which it goes with: "
            report.notes.append("kept \(machine.path(of: name, in: root)): \(what)\(refusal.cause)")
            return true
        }
        guard !old.isEmpty else { return }
        // An agent snapshots a revision under its machine lock, after
        // reading the link: the old revisions go only under every lock the
        // directory names, so that no build that read the link before the
        // switch is between its lock and its snapshot.
        guard let locks = try await takeEveryLock(keeping: old) else { return }
        do throws(AdministrationError) {
            // Images sort after their revisions (`.` after the end): delete
            // them first.
            for name in old.sorted().reversed() { try await delete(name) }
            try await sync()
        } catch {
            await release(locks)
            throw error
        }
        await release(locks)
    }

    /// The subvolumes that a symbolic link of the machine directory other
    /// than the machine's own link names (a component of its target, as
    /// the cleanup reads one: `m-stable -> m-2`, `m-2/disk.img`), each with
    /// the link's name and target; a link whose target cannot be read (no
    /// target) may name any of them. An old revision so named is the
    /// operator's, and stays: deleted, it would leave that link dangling.
    func namedByOtherLinks(_ entries: [DirectoryEntry]) async -> [EntryName: (name: String, target: String?)] {
        guard let directory = machineHandle else { return [:] }
        let subvolumes = Set(entries.filter { $0.kind == .subvolume }.map(\.name))
        var named: [EntryName: (name: String, target: String?)] = [:]
        for entry in entries where entry.kind == .symlink && entry.name != machine.machine {
            // The temporary link of a switch is the command's own.
            if case .temporaryLink = MachineEntryName(classifying: entry.name, machine: machine.machine) { continue }
            guard entry.name.isExact, let target = try? await fileSystem.readLink(entry.name, in: directory) else {
                for name in subvolumes where named[name] == nil { named[name] = (entry.name.rawValue, nil) }
                continue
            }
            for component in EntryName.components(of: target) {
                guard let name = EntryName(String(component)), subvolumes.contains(name), named[name] == nil else { continue }
                named[name] = (entry.name.rawValue, target)
            }
        }
        return named
    }

    /// The revision number of a revision or a received image.
    static func revisionDigits(of name: EntryName, machine: EntryName) -> String? {
        switch MachineEntryName(classifying: name, machine: machine) {
        case .revision(let digits), .receivedImage(let digits): digits
        default: nil
        }
    }

    /// The locks of every toolchain the machine directory names (its lock
    /// files, bootstrapped machines and working snapshots), taken without
    /// waiting; nil, with a note naming `kept`, when one is busy or cannot
    /// be taken (none is then held). A dry run takes none.
    mutating func takeEveryLock(keeping kept: [EntryName]) async throws(AdministrationError) -> [MachineLock]? {
        guard !dryRun, let directory = machineHandle else { return [] }
        var toolchains: Set<Toolchain> = []
        for entry in try await entries() {
            if case .toolchain(let toolchain) = MachineEntryName(classifying: entry.name, machine: machine.machine).lockGuard {
                toolchains.insert(toolchain)
            }
        }
        let owner = (try? await fileSystem.status(of: directory)).map { (user: $0.owner, group: $0.group) }
        var held: [MachineLock] = []
        for toolchain in toolchains.sorted() {
            let problem: String
            do throws(FSError) {
                if let lock = try await MachineLock.take(
                    toolchain, machine: machine.machine, in: directory, on: fileSystem, owner: owner)
                {
                    held.append(lock)
                    continue
                }
                problem = "a build holds it"
            } catch {
                problem = error.cause
            }
            await release(held)
            report.notes.append(
                "kept \(kept.sorted().map(\.rawValue).joined(separator: ", ")): the lock "
                    + "\(MachineNaming.lockFile(machine.machine, toolchain).rawValue) cannot be taken (\(problem)); "
                    + "run the command again to remove them")
            return nil
        }
        return held
    }

    /// Releases machine locks this command holds, as an agent releases its
    /// own (unlink, then close).
    func release(_ locks: [MachineLock]) async {
        guard let directory = machineHandle else { return }
        for lock in locks { await lock.release(in: directory, on: fileSystem) }
    }

    /// Whether revision number `a` is below `b` (digit strings of any
    /// length, leading zeros aside).
    static func precedes(_ a: String, _ b: String) -> Bool {
        let (x, y) = (a.drop { $0 == "0" }, b.drop { $0 == "0" })
        return x.count != y.count ? x.count < y.count : x.utf8.lexicographicallyPrecedes(y.utf8)
    }

    mutating func createMachineDirectory(owner: Ownership) async throws(AdministrationError) {
        guard let volumeHandle else { return }
        let (fileSystem, name) = (self.fileSystem, machine.machine)
        try await step(.createDirectory, machine.path(in: root)) { () throws(FSError) in
            try await fileSystem.makeDirectory(name, in: volumeHandle)
        }
        // Agents make their snapshots and lock files in it.
        try await step(.changeOwner, machine.path(in: root), detail: "to \(owner)") { () throws(FSError) in
            try await fileSystem.changeOwner(of: name, in: volumeHandle, owner: owner.user, group: owner.group)
        }
        if !dryRun { try await openMachineDirectory() }
    }

    /// Gives the machine directory of an interrupted add to `owner`, when
    /// the add stopped before it did.
    mutating func ensureOwner(_ owner: Ownership) async throws(AdministrationError) {
        guard let volumeHandle, let machineHandle else { return }
        let status = try? await fileSystem.status(of: machineHandle)
        guard status?.owner != owner.user || status?.group != owner.group else { return }
        let (fileSystem, name) = (self.fileSystem, machine.machine)
        try await step(.changeOwner, machine.path(in: root), detail: "to \(owner)") { () throws(FSError) in
            try await fileSystem.changeOwner(of: name, in: volumeHandle, owner: owner.user, group: owner.group)
        }
    }

    /// Removes the temporary links of switches that did not finish: this
    /// run holds the lock, so no switch is under way.
    mutating func removeTemporaryLinks(in entries: [DirectoryEntry]) async throws(AdministrationError) {
        for entry in entries where entry.kind == .symlink {
            guard case .temporaryLink = MachineEntryName(classifying: entry.name, machine: machine.machine) else {
                continue
            }
            let (fileSystem, directory) = (self.fileSystem, machineHandle)
            try await step(.removeTemporaryLink, machine.path(of: entry.name, in: root)) { () throws(FSError) in
                guard let directory else { return }
                try await fileSystem.unlink(entry.name, in: directory)
            }
        }
    }

    mutating func delete(_ name: EntryName) async throws(AdministrationError) {
        let session = self
        try await step(.deleteSubvolume, machine.path(of: name, in: root)) { () throws(FSError) in
            try await session.deleteSubvolume(name)
        }
    }

    /// Receives the stream as the revision `revision`: the image, then the
    /// revision made from it, each only when not there already. `parent`:
    /// the UUID of the subvolume an incremental stream applies to.
    mutating func install(
        _ stream: SendStream, as revision: EntryName, owner: Ownership, entries: [DirectoryEntry],
        parent: BtrfsUUID? = nil
    ) async throws(AdministrationError) {
        let image = try imageName(of: revision)
        let header = stream.header
        func existing(_ name: EntryName) throws(AdministrationError) -> DirectoryEntry? {
            guard let entry = entries.first(where: { $0.name == name }) else { return nil }
            guard entry.kind == .subvolume else {
                throw .usage(
                    "\(machine.path(of: name, in: root)) is not a subvolume (\(entry.kind.phrase))", code: "in-the-way")
            }
            return entry
        }
        // The image: finished when read-only with this stream's UUID.
        var imageInfo: SubvolumeInfo?
        if try existing(image) != nil {
            let info = try await info(of: image)
            if info.isReadOnly, info.receivedUUID == header.uuid {
                if let parent, info.parentUUID != parent {
                    // An interrupted run renamed a receive that took
                    // another copy of the parent (see
                    // `checkReceivedParent`).
                    throw .failed(
                        "\(machine.path(of: image, in: root)) was received against another subvolume with the same "
                            + "received UUID (UUID \(info.parentUUID)), not the current revision's image (UUID "
                            + "\(parent)): delete it and that copy, then run the command again")
                }
                imageInfo = info
            } else if info.isReadOnly {
                throw .usage(
                    "\(machine.path(of: image, in: root)) comes from another stream (received UUID \(info.receivedUUID))",
                    code: "revision-exists")
            } else {
                // The image is a finished receive renamed: never writable.
                throw .usage(
                    "\(machine.path(of: image, in: root)) is a writable subvolume, which no step of this command "
                        + "leaves: it is kept; delete it by hand if it is not needed",
                    code: "in-the-way")
            }
        }
        // The revision: a finished receive not yet renamed, a finished
        // revision, or something unfinished to do again.
        var receivedHere = false
        var finished = false
        if try existing(revision) != nil {
            let info = try await info(of: revision)
            if !info.isReadOnly {
                // Deleted only when it is what an interrupted run of this
                // command leaves: a receive of this stream that did not
                // finish (see `isPartialReceive`), or a revision made from
                // the finished image but not yet read-only. Anything else
                // is someone's: kept.
                let partialReceive = imageInfo == nil && Self.isPartialReceive(info, of: header, parent: parent)
                let unfinishedRevision = imageInfo.map { info.parentUUID == $0.uuid } ?? false
                guard partialReceive || unfinishedRevision else {
                    throw .usage(
                        "\(machine.path(of: revision, in: root)) is a writable subvolume that an interrupted run of "
                            + "this command does not leave (parent UUID \(info.parentUUID), received UUID "
                            + "\(info.receivedUUID)): it is kept; delete it by hand if it is not needed",
                        code: "in-the-way")
                }
                try await delete(revision)
            } else if imageInfo == nil, info.receivedUUID == header.uuid {
                receivedHere = true
            } else if let imageInfo, info.parentUUID == imageInfo.uuid {
                finished = true
            } else {
                throw .usage(
                    "revision \(machine.path(of: revision, in: root)) exists and was not made from this stream",
                    code: "revision-exists")
            }
        }
        let fileSystem = self.fileSystem
        guard let directory = machineHandle ?? (dryRun ? volumeHandle : nil) else {
            throw .failed("no machine directory \(machine.path(in: root))")
        }
        if imageInfo == nil {
            if !receivedHere {
                let detail = header.parent.map { "(incremental against \($0.uuid))" } ?? "(full stream)"
                // Progress while it takes (a VM image: minutes): the bytes
                // fed so far after the path, which stays, so that plain
                // lines (not a terminal) come every ten seconds.
                var fed = stream
                let progress = administration.progress
                let path = machine.path(of: revision, in: root)
                fed.progress = { bytes, seconds in
                    progress("receiving \(path): \(AdministrationReport.size(bytes)) in \(Int(seconds)) s")
                }
                do throws(AdministrationError) {
                    try await step(.receive, machine.path(of: revision, in: root), detail: detail) {
                        () throws(FSError) in try await fileSystem.receive(fed, in: directory)
                    }
                } catch {
                    throw await receiveFailed(error, revision: revision, stream: stream, parent: parent)
                }
            }
            // Also for a receive an interrupted run finished.
            if let parent, !dryRun { try await checkReceivedParent(of: revision, is: parent) }
            try await step(.rename, machine.path(of: revision, in: root), detail: "to \(image)") { () throws(FSError) in
                try await fileSystem.rename(revision, in: directory, to: image, in: directory, mode: .noReplace)
            }
        }
        if !finished {
            try await step(.snapshot, machine.path(of: image, in: root), detail: "as \(revision)") { () throws(FSError) in
                try await fileSystem.withDirectory(image, in: directory) { source throws(FSError) in
                    try await fileSystem.snapshot(source, as: revision, in: directory, readOnly: false)
                }
            }
            try await step(.changeOwner, machine.path(of: revision, in: root), detail: "to \(owner)") {
                () throws(FSError) in
                try await fileSystem.changeOwner(of: revision, in: directory, owner: owner.user, group: owner.group)
            }
            try await step(.setReadOnly, machine.path(of: revision, in: root)) { () throws(FSError) in
                try await fileSystem.withDirectory(revision, in: directory) { subvolume throws(FSError) in
                    try await fileSystem.setReadOnly(true, of: subvolume)
                }
            }
        }
        try await sync()
    }

    /// A receive that failed leaves what it received so far: a writable
    /// subvolume without received UUID. The same stream would fail again
    /// (a damaged or truncated stream fails at the same byte), so the
    /// partial subvolume is deleted now and the error says so.
    mutating func receiveFailed(_ error: AdministrationError, revision: EntryName, stream: SendStream, parent: BtrfsUUID?)
        async -> AdministrationError
    {
        guard let step = report.steps.last, step.action == .receive else { return error }
        let failure = "unable to \(step.text): \(step.error ?? "failed")"
        let info = try? await info(of: revision)
        if let info, info.isReadOnly, info.receivedUUID == stream.header.uuid {
            // btrfs receive failed (was killed, say) after it had made the
            // revision read-only: the name was free before the receive, so
            // the revision is this stream's, whole, and a rerun takes it
            // (checking its parent, as after an interrupted run).
            return .failed(
                "\(failure); the revision was received whole before that (read-only, with the stream's received "
                    + "UUID \(stream.header.uuid)): running the command again goes on from it")
        }
        guard let info, Self.isPartialReceive(info, of: stream.header, parent: parent) else {
            // Nothing of this stream was received (btrfs receive refused
            // it, was stopped, or failed before it made the subvolume).
            return .failed(
                "\(failure); nothing was received. Run the command again; if it fails the same way, correct the "
                    + "cause (the stream, btrfs-progs, the filesystem)")
        }
        let partial = (try? await delete(revision)) != nil ? "the partial subvolume is deleted" : "the partial subvolume stays"
        return .failed(
            "\(failure): the stream may be damaged or truncated, btrfs receive may have been stopped, or the "
                + "filesystem failed; \(partial). Running the command again with a whole stream finishes the job")
    }

    /// Whether a writable subvolume is what a receive of this stream
    /// leaves when it does not finish: a snapshot of the parent for an
    /// incremental stream, of nothing for a full one; without received
    /// UUID yet, or with this stream's (btrfs receive sets it, then the
    /// read-only flag: a receive stopped in between leaves both).
    static func isPartialReceive(_ info: SubvolumeInfo, of header: SendStreamHeader, parent: BtrfsUUID?) -> Bool {
        !info.isReadOnly && (info.receivedUUID.isZero || info.receivedUUID == header.uuid)
            && info.parentUUID == (parent ?? .zero)
    }

    /// `btrfs receive` finds an incremental stream's parent by its
    /// received UUID anywhere on the filesystem and takes the first it
    /// finds: a copy of the image elsewhere (received by hand, or modified
    /// with its received UUID kept) would make the new revision from the
    /// wrong files. The received subvolume must be a snapshot of the
    /// current revision's image; if it is not, it is deleted and the
    /// command fails.
    mutating func checkReceivedParent(of revision: EntryName, is parent: BtrfsUUID) async
        throws(AdministrationError)
    {
        let used = try await info(of: revision).parentUUID
        guard used != parent else { return }
        try await delete(revision)
        throw .failed(
            "btrfs receive applied the stream to another subvolume with the same received UUID (UUID \(used)), "
                + "not to the current revision's image (UUID \(parent)): the received revision is deleted, "
                + "nothing else was changed. That subvolume came from the same stream as this machine's image: "
                + "another machine added from it, or a copy received by hand (btrfs subvolume list -u -R names it). "
                + "Upgrade this machine with a full stream; delete that subvolume only if it is a stray copy, "
                + "never another machine's image")
    }

    /// Switches the current link to `revision` atomically: a fresh link
    /// under a unique temporary name, checked, renamed over the link.
    mutating func switchLink(to revision: EntryName) async throws(AdministrationError) {
        let (fileSystem, link, directory) = (self.fileSystem, machine.machine, machineHandle)
        let pid = fileSystem.processID
        try await step(.switchLink, machine.path(of: link, in: root), detail: "-> \(revision)") { () throws(FSError) in
            guard let directory else { return }
            var counter = 1
            while true {
                guard let temporary = MachineNaming.temporaryLink(link, unique: "\(pid)-\(counter)") else {
                    throw FSError(.invalidArgument, .createSymlink, name: link)
                }
                do throws(FSError) {
                    try await fileSystem.createSymlink(temporary, in: directory, target: revision.rawValue)
                } catch where error.kind == .exists && counter < 1000 {
                    counter += 1
                    continue
                }
                guard EntryName.sameBytes(try await fileSystem.readLink(temporary, in: directory), revision.rawValue) else {
                    throw FSError(.ioError, .readLink, name: temporary)
                }
                try await fileSystem.rename(temporary, in: directory, to: link, in: directory, mode: .replace)
                return
            }
        }
        try await sync()
    }
}
