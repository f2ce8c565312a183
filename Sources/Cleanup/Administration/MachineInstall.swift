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
                throw .usage(
                    "machine \(machine) exists (current revision \(target)); use `machine upgrade`",
                    code: "machine-exists")
            }
            let allowed: Set<EntryName> = [revision, try session.imageName(of: revision)]
            let strangers = entries.filter { entry in
                if allowed.contains(entry.name) { return false }
                if case .temporaryLink = MachineEntryName(classifying: entry.name, machine: machine.machine) {
                    return entry.kind != .symlink
                }
                return true
            }
            if !strangers.isEmpty {
                throw .usage(
                    "\(machine.path(in: root)) exists and holds \(strangers.map(\.name.rawValue).joined(separator: ", ")), "
                        + "which an interrupted add of \(revision) does not leave; `machine remove` deletes it",
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
            guard let target = try await session.currentTarget(in: entries), let current = EntryName(target),
                entries.contains(where: { $0.name == current && $0.kind == .subvolume })
            else {
                throw .usage(
                    "machine \(machine) has no valid current link: `machine add` a machine, or correct the link",
                    code: "no-current-revision")
            }
            if current == revision {
                session.report.notes.append("already current: \(machine) is \(revision)")
            } else {
                try await session.checkParent(of: stream, current: current, entries: entries)
                try await session.removeTemporaryLinks(in: entries)
                try await session.install(stream, as: revision, owner: owner, entries: entries)
                try await session.switchLink(to: revision)
            }
            if removeOld { try await session.removeRevisions(before: revision) }
        }
    }
}

extension AdministrationSession {
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

    /// An incremental stream must apply to the current revision: its
    /// parent is the received UUID of the current revision's image (or,
    /// for a revision received by hand, of the revision itself).
    func checkParent(of stream: SendStream, current: EntryName, entries: [DirectoryEntry]) async
        throws(AdministrationError)
    {
        guard let parent = stream.header.parent else { return }
        var base = current
        if let image = try? imageName(of: current), entries.contains(where: { $0.name == image }) { base = image }
        let received = try await info(of: base).receivedUUID
        guard received == parent.uuid else {
            throw .usage(
                "the stream is incremental against \(parent.uuid), which is not the current revision \(current) "
                    + "(received UUID \(received)): send it with -p against \(current)'s image",
                code: "parent-not-current")
        }
    }

    /// Deletes every revision numbered below `revision`, each with its
    /// received image (the image first, so that an interruption never
    /// leaves an image without its revision), once the switch to
    /// `revision` is committed. Running `upgrade --remove-old` again after
    /// an interruption finds them by number.
    mutating func removeRevisions(before revision: EntryName) async throws(AdministrationError) {
        guard case .revision(let newest) = MachineEntryName(classifying: revision, machine: machine.machine) else { return }
        var old: [EntryName] = []
        for entry in try await entries() where entry.kind == .subvolume {
            switch MachineEntryName(classifying: entry.name, machine: machine.machine) {
            case .receivedImage(let digits) where Self.precedes(digits, newest): old.append(entry.name)
            case .revision(let digits) where Self.precedes(digits, newest): old.append(entry.name)
            default: break
            }
        }
        guard !old.isEmpty else { return }
        // Images sort after their revisions (`.` after the end): delete
        // them first.
        for name in old.sorted().reversed() { try await delete(name) }
        try await sync()
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
    /// revision made from it, each only when not there already.
    mutating func install(_ stream: SendStream, as revision: EntryName, owner: Ownership, entries: [DirectoryEntry])
        async throws(AdministrationError)
    {
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
                imageInfo = info
            } else if info.isReadOnly {
                throw .usage(
                    "\(machine.path(of: image, in: root)) comes from another stream (received UUID \(info.receivedUUID))",
                    code: "revision-exists")
            } else {
                try await delete(image)
            }
        }
        // The revision: a finished receive not yet renamed, a finished
        // revision, or something unfinished to do again.
        var receivedHere = false
        var finished = false
        if try existing(revision) != nil {
            let info = try await info(of: revision)
            if !info.isReadOnly {
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
                try await step(.receive, machine.path(of: revision, in: root), detail: detail) { () throws(FSError) in
                    try await fileSystem.receive(stream, in: directory)
                }
            }
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
