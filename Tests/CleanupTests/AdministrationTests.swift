import Cleanup
import FSProtocol
import MachineLayout
import SimFS
import Testing
import TestSupport

/// The administration commands on SimFS: what they make, what they refuse
/// before touching anything, and that a crash at any step followed by the
/// same command again (or by a boot cleanup) converges.
@Suite("machine add, upgrade and remove")
struct AdministrationTests {
    static let machine = try! MachineAddress(parsing: "default/m")
    static let owner = Ownership(user: 1000, group: 1000)
    static let directory = "/build/machines/default/m"

    static func stream(_ name: EntryName, _ uuid: UInt64, parent: UInt64? = nil) throws -> SendStream {
        let header = SendStreamHeader(
            version: 1, name: name, uuid: BtrfsUUID(high: 0xabc, low: uuid), transactionID: 7,
            parent: parent.map { .init(uuid: BtrfsUUID(high: 0xabc, low: $0), transactionID: 7) })
        return try SendStream(prefix: SendStream.empty(header))
    }

    static func administration(_ process: SimulatedProcess, clock: any WaitingClock = HostClock()) -> Administration {
        Administration(fileSystem: process, root: Layout.defaultRoot, clock: clock)
    }

    /// A host with a volume and a machine added from stream 1.
    static func hostWithMachine() async throws -> SimulatedHost {
        let host = try makeHost("volume default\ntmpfs /run/lock")
        let report = await administration(host.spawn()).add(machine, stream: try stream("m-1", 1), owner: owner)
        #expect(report.error == nil)
        return host
    }

    @Test("add receives the image, makes the revision from it for the build user, and links it last")
    func add() async throws {
        let host = try makeHost("volume default\ntmpfs /run/lock")
        let report = await Self.administration(host.spawn()).add(Self.machine, stream: try Self.stream("m-1", 1), owner: Self.owner)
        #expect(report.error == nil)
        #expect(
            report.steps.map(\.action) == [
                .createDirectory, .changeOwner, .receive, .rename, .snapshot, .changeOwner, .setReadOnly, .sync,
                .createLink, .sync,
            ])
        #expect(report.steps.allSatisfy { $0.outcome == .done })
        #expect(names(host, Self.directory) == ["m", "m-1", "m-1.received"])
        #expect(host.linkTarget(at: "\(Self.directory)/m") == "m-1")
        let image = try #require(host.subvolumeInfo(at: "\(Self.directory)/m-1.received"))
        let revision = try #require(host.subvolumeInfo(at: "\(Self.directory)/m-1"))
        #expect(image.isReadOnly && image.receivedUUID == BtrfsUUID(high: 0xabc, low: 1))
        #expect(revision.isReadOnly && revision.receivedUUID == .zero && revision.parentUUID == image.uuid)
        let layout = host.layout()
        #expect(layout.entries.first { $0.path == "default/m/m-1" }?.owner == 1000)
        #expect(layout.entries.first { $0.path == "default/m" }?.owner == 1000)
        // The cleanup recognises all of it.
        #expect(lines(await cleanup(host)) == [])
    }

    @Test("add refuses, touching nothing: an incremental stream, a stream of another name, a machine that exists")
    func addRefusals() async throws {
        let host = try await Self.hostWithMachine()
        let before = host.layout()
        let admin = Self.administration(host.spawn())
        let cases: [(MachineAddress, SendStream, String)] = [
            (try MachineAddress(parsing: "default/n"), try Self.stream("n-2", 2, parent: 1), "incremental-stream"),
            (try MachineAddress(parsing: "default/n"), try Self.stream("m-2", 2), "stream-name"),
            (try MachineAddress(parsing: "default/n"), try Self.stream("n-x", 2), "stream-name"),
            (Self.machine, try Self.stream("m-2", 2), "machine-exists"),
            (try MachineAddress(parsing: "nowhere/m"), try Self.stream("m-1", 3), "unknown-volume"),
            // A control character in a new name: every line naming it
            // would be ambiguous.
            (try MachineAddress(parsing: "default/n\nm"), try Self.stream("n\nm-1", 1), "control-character"),
            (try MachineAddress(parsing: "default/n\u{1B}"), try Self.stream("n\u{1B}-1", 1), "control-character"),
            (try MachineAddress(parsing: "default/n\u{85}"), try Self.stream("n\u{85}-1", 1), "control-character"),
        ]
        for (machine, stream, code) in cases {
            let report = await admin.add(machine, stream: stream, owner: Self.owner)
            #expect(report.error?.code == code, "\(machine) \(stream.header.name)")
            #expect(report.exitStatus == 64)
            #expect(report.steps.isEmpty)
        }
        #expect(host.layout() == before)
        // The same add again is no error: it is there.
        let again = await admin.add(Self.machine, stream: try Self.stream("m-1", 1), owner: Self.owner)
        #expect(again.error == nil)
        #expect(again.notes == ["already added: default/m is m-1, from this stream"])
    }

    @Test("add refuses a volume that is not on btrfs (its filesystem not mounted), touching nothing, in a dry run too")
    func addOnAVolumeNotOnBtrfs() async throws {
        for layout in ["dir default\ntmpfs /run/lock", "volume default\ntmpfs v\ntmpfs /run/lock"] {
            let host = try makeHost(layout)
            let machine = try MachineAddress(parsing: layout.hasPrefix("dir") ? "default/m" : "v/m")
            let before = host.layout()
            for dryRun in [true, false] {
                let report = await Self.administration(host.spawn()).add(
                    machine, stream: try Self.stream("m-1", 1), owner: Self.owner, dryRun: dryRun)
                #expect(report.error?.code == "not-btrfs", "\(layout)")
                #expect(report.error?.message.contains("is not on a btrfs filesystem") == true)
                #expect(report.exitStatus == 64)
                #expect(report.steps.isEmpty)
            }
            #expect(host.layout() == before)
        }
    }

    @Test("add refuses a directory that holds what an add does not leave, even under a temporary link's name")
    func addRefusesStrangers() async throws {
        for stranger in [
            "dir    default/m/m.link-5-1", "file   default/m/notes", "subvol default/m/m-default-1-1",
            "dir    default/m/m-default.lock", "link   default/m/m-default.lock -> m-1",
        ] {
            let host = try makeHost("volume default\ndir default/m\n\(stranger)\ntmpfs /run/lock")
            let before = host.layout()
            let report = await Self.administration(host.spawn()).add(Self.machine, stream: try Self.stream("m-1", 1), owner: Self.owner)
            #expect(report.error?.code == "machine-exists", "\(stranger)")
            #expect(host.layout() == before)
        }
    }

    @Test("add run again in a directory where agents took their locks meanwhile: their lock files stay, the add finishes")
    func addKeepsAgentsLockFiles() async throws {
        let host = try makeHost(
            "volume default\ndir default/m\nfile default/m/m-default.lock\nfile default/m/m-gcc.lock\ntmpfs /run/lock")
        let agent = host.spawn()
        let directory = try await agent.openRoot(Self.directory)
        let lock = try await agent.openFile("m-default.lock", in: directory, options: [.write])
        #expect(try await agent.tryLock(lock))
        let report = await Self.administration(host.spawn()).add(Self.machine, stream: try Self.stream("m-1", 1), owner: Self.owner)
        #expect(report.error == nil, "\(report.textLines)")
        #expect(names(host, Self.directory) == ["m", "m-1", "m-1.received", "m-default.lock", "m-gcc.lock"])
        await agent.close(lock)
        await agent.close(directory)
    }

    @Test("add gives the directory an interrupted add left to the build user and group", arguments: ["0:0", "1000:0", "0:1000"])
    func addFixesTheOwner(owner: String) async throws {
        let host = try makeHost("volume default\ndir default/m owner=\(owner)\ntmpfs /run/lock")
        let report = await Self.administration(host.spawn()).add(Self.machine, stream: try Self.stream("m-1", 1), owner: Self.owner)
        #expect(report.error == nil, "\(report.textLines)")
        let directory = host.layout().entries.first { $0.path == "default/m" }
        #expect(directory?.owner == 1000 && directory?.group == 1000, "\(String(describing: directory))")
    }

    @Test("add removes a temporary link an interrupted switch left, and finishes")
    func addRemovesTemporaryLinks() async throws {
        let host = try makeHost("volume default\ndir default/m\nlink default/m/m.link-9-1 -> m-1\ntmpfs /run/lock")
        let report = await Self.administration(host.spawn()).add(Self.machine, stream: try Self.stream("m-1", 1), owner: Self.owner)
        #expect(report.error == nil, "\(report.textLines)")
        #expect(names(host, Self.directory) == ["m", "m-1", "m-1.received"])
        #expect(lines(await cleanup(host)) == [])
    }

    @Test("upgrade refuses a machine whose link names no subvolume, touching nothing")
    func upgradeNeedsASubvolume() async throws {
        for target in ["dir    default/m/m-1", "file   default/m/m-1", ""] {
            let host = try makeHost("volume default\ndir default/m\n\(target)\nlink default/m/m -> m-1\ntmpfs /run/lock")
            let before = host.layout()
            let report = await Self.administration(host.spawn()).upgrade(
                Self.machine, stream: try Self.stream("m-2", 2), owner: Self.owner)
            #expect(report.error?.code == "no-current-revision", "\(target)")
            #expect(report.error?.message.contains("has a current link in error (m -> m-1") == true)
            // add does not send the operator back to upgrade.
            let add = await Self.administration(host.spawn()).add(Self.machine, stream: try Self.stream("m-2", 2), owner: Self.owner)
            #expect(add.error?.code == "link-in-error", "\(add.error?.message ?? "")")
            #expect(add.error?.message.contains("correct the link") == true)
            #expect(host.layout() == before)
        }
    }

    @Test("a dry run lists the steps and changes nothing")
    func dryRun() async throws {
        let host = try makeHost("volume default\ntmpfs /run/lock")
        let before = host.layout()
        let report = await Self.administration(host.spawn()).add(
            Self.machine, stream: try Self.stream("m-1", 1), owner: Self.owner, dryRun: true)
        #expect(report.error == nil)
        #expect(report.steps.count == 10)
        #expect(report.steps.allSatisfy { $0.outcome == .planned })
        #expect(report.textLines.dropFirst().allSatisfy { $0.hasPrefix("  would ") })
        #expect(host.layout() == before)
    }

    @Test("--remove-old deletes the old revisions under every lock the directory names: a build holding one keeps them")
    func removeOldUnderLocks() async throws {
        let host = try await Self.hostWithMachine()
        try host.addSubvolume("\(Self.directory)/m-default", readOnly: true)
        // A build that read the link (m-1) and took its lock: its snapshot
        // of m-1 is still to come.
        let agent = host.spawn()
        let directory = try await agent.openRoot(Self.directory)
        let lock = try #require(try await MachineLock.take(.default, machine: "m", in: directory, on: agent))
        let stream = try Self.stream("m-2", 2, parent: 1)
        let report = await Self.administration(host.spawn()).upgrade(
            Self.machine, stream: stream, owner: Self.owner, removeOld: true)
        #expect(report.error == nil, "\(report.textLines)")
        #expect(host.linkTarget(at: "\(Self.directory)/m") == "m-2")
        #expect(
            report.notes.contains(
                "kept m-1, m-1.received: the lock m-default.lock cannot be taken (a build holds it); run the command "
                    + "again to remove them"), "\(report.notes)")
        // The build's snapshot of the revision it read finds it.
        try await agent.withDirectory("m-1", in: directory) { source throws(FSError) in
            try await agent.snapshot(source, as: "m-default-9-1", in: directory, readOnly: false)
        }
        await lock.release(in: directory, on: agent)
        await agent.close(directory)
        // Once the build let go: the same command again removes them, and
        // leaves no lock file of its own.
        let again = await Self.administration(host.spawn()).upgrade(
            Self.machine, stream: stream, owner: Self.owner, removeOld: true)
        #expect(again.error == nil, "\(again.textLines)")
        #expect(names(host, Self.directory) == ["m", "m-2", "m-2.received", "m-default", "m-default-9-1"])
    }

    @Test(
        "--remove-old keeps an old revision, with its image, that another link of the machine names; its other old ones go",
        arguments: ["m-1", "./m-1/disk.img", "m-1.received", "/build/machines/default/m/m-1"])
    func removeOldKeepsLinked(target: String) async throws {
        let host = try await Self.hostWithMachine()
        // Revision 2, by hand as the manual says: another old one.
        try host.addSubvolume("\(Self.directory)/m-2", readOnly: true)
        try host.addSymlink("\(Self.directory)/m-stable", target: target)
        let report = await Self.administration(host.spawn()).upgrade(
            Self.machine, stream: try Self.stream("m-3", 3, parent: 1), owner: Self.owner, removeOld: true)
        #expect(report.error == nil, "\(report.textLines)")
        #expect(host.linkTarget(at: "\(Self.directory)/m") == "m-3")
        let named = target.contains(".received") ? "m-1.received" : "m-1"
        let other = named == "m-1" ? "m-1.received" : "m-1"
        #expect(
            report.notes.sorted() == [
                "kept \(Self.directory)/\(named): the symbolic link m-stable -> \(target) names it",
                "kept \(Self.directory)/\(other): the symbolic link m-stable -> \(target) names \(named), which it goes with",
            ].sorted(), "\(report.notes)")
        #expect(names(host, Self.directory) == ["m", "m-1", "m-1.received", "m-3", "m-3.received", "m-stable"])
    }

    @Test("--remove-old refused by btrfs with EPERM (the default subvolume): the step's error says what btrfs refuses so")
    func removeOldRefused() async throws {
        let host = try await Self.hostWithMachine()
        try host.setDefaultSubvolume("\(Self.directory)/m-1")
        let report = await Self.administration(host.spawn()).upgrade(
            Self.machine, stream: try Self.stream("m-2", 2, parent: 1), owner: Self.owner, removeOld: true)
        #expect(report.exitStatus == 1)
        #expect(
            report.steps.last?.error
                == "operation not permitted: immutable or append-only (it or its directory; see lsattr), "
                + "a btrfs send of it under way, an active swap file in it, or the filesystem's default subvolume (EPERM)",
            "\(report.textLines)")
        #expect(host.linkTarget(at: "\(Self.directory)/m") == "m-2")
    }

    @Test(
        "--remove-old keeps an old revision with something mounted inside it, and its image, with a note: the mount is not torn away"
    )
    func removeOldKeepsMounts() async throws {
        let host = try await Self.hostWithMachine()
        try host.addDirectory("\(Self.directory)/m-1/mnt")
        try host.addMount("\(Self.directory)/m-1/mnt")
        let report = await Self.administration(host.spawn()).upgrade(
            Self.machine, stream: try Self.stream("m-2", 2, parent: 1), owner: Self.owner, removeOld: true)
        #expect(report.exitStatus == 0, "\(report.textLines)")
        #expect(
            report.notes == [
                "kept \(Self.directory)/m-1: mount point inside: \(Self.directory)/m-1/mnt",
                "kept \(Self.directory)/m-1.received: m-1, which it goes with: mount point inside: \(Self.directory)/m-1/mnt",
            ], "\(report.textLines)")
        #expect(!report.steps.contains { $0.action == .deleteSubvolume }, "\(report.textLines)")
        #expect(host.linkTarget(at: "\(Self.directory)/m") == "m-2")
        #expect(names(host, Self.directory) == ["m", "m-1", "m-1.received", "m-2", "m-2.received"])
        #expect(host.entryKind(at: "\(Self.directory)/m-1/mnt") != nil)
        let looker = host.spawn()
        let mounts = try await looker.withRoot(Self.directory) { directory throws(FSError) in
            try await looker.mountPoints(inside: directory)
        }
        #expect(mounts == ["\(Self.directory)/m-1/mnt"])
    }

    @Test("upgrade with an incremental stream switches the link, and --remove-old removes the old revision")
    func upgrade() async throws {
        let host = try await Self.hostWithMachine()
        let report = await Self.administration(host.spawn()).upgrade(
            Self.machine, stream: try Self.stream("m-2", 2, parent: 1), owner: Self.owner, removeOld: true)
        #expect(report.error == nil, "\(report.textLines)")
        #expect(host.linkTarget(at: "\(Self.directory)/m") == "m-2")
        #expect(names(host, Self.directory) == ["m", "m-2", "m-2.received"])
        let image = try #require(host.subvolumeInfo(at: "\(Self.directory)/m-2.received"))
        #expect(image.receivedUUID == BtrfsUUID(high: 0xabc, low: 2))
        #expect(lines(await cleanup(host)) == [])
    }

    @Test("--remove-old compares revision numbers as numbers: 9 is older than 10, and 010 is 10")
    func removeOldByNumber() async throws {
        let host = try makeHost("volume default\ntmpfs /run/lock")
        let admin = Self.administration(host.spawn())
        #expect(await admin.add(Self.machine, stream: try Self.stream("m-9", 9), owner: Self.owner).error == nil)
        let report = await admin.upgrade(
            Self.machine, stream: try Self.stream("m-10", 10, parent: 9), owner: Self.owner, removeOld: true)
        #expect(report.error == nil, "\(report.textLines)")
        #expect(names(host, Self.directory) == ["m", "m-10", "m-10.received"])
        // A later revision written with a leading zero keeps its peer.
        let same = await admin.upgrade(
            Self.machine, stream: try Self.stream("m-010", 11, parent: 10), owner: Self.owner, removeOld: true)
        #expect(same.error == nil, "\(same.textLines)")
        #expect(names(host, Self.directory) == ["m", "m-010", "m-010.received", "m-10", "m-10.received"])
    }

    @Test("upgrade refuses a stream whose parent is not the current revision, touching nothing")
    func upgradeWrongParent() async throws {
        let host = try await Self.hostWithMachine()
        let before = host.layout()
        let admin = Self.administration(host.spawn())
        let report = await admin.upgrade(Self.machine, stream: try Self.stream("m-3", 3, parent: 2), owner: Self.owner)
        #expect(report.error?.code == "parent-not-current")
        #expect(report.exitStatus == 64)
        let missing = await admin.upgrade(
            try MachineAddress(parsing: "default/x"), stream: try Self.stream("x-2", 2), owner: Self.owner)
        #expect(missing.error?.code == "no-such-machine")
        #expect(host.layout() == before)
    }

    @Test("upgrade refuses an image of the revision's name received from another stream, touching nothing")
    func upgradeForeignImage() async throws {
        let host = try await Self.hostWithMachine()
        // A finished image under the new revision's name, with another
        // received UUID than the stream's: never made a revision of.
        try host.addSubvolume("\(Self.directory)/m-2.received", readOnly: true, received: true)
        let before = host.layout()
        let report = await Self.administration(host.spawn()).upgrade(
            Self.machine, stream: try Self.stream("m-2", 2, parent: 1), owner: Self.owner)
        #expect(report.error?.code == "revision-exists")
        #expect(report.exitStatus == 64)
        #expect(host.layout() == before)
        #expect(host.linkTarget(at: "\(Self.directory)/m") == "m-1")
    }

    @Test("upgrade refuses a revision of the new name not made from the stream's image, touching nothing")
    func upgradeForeignRevision() async throws {
        let host = try await Self.hostWithMachine()
        let first = await Self.administration(host.spawn()).upgrade(
            Self.machine, stream: try Self.stream("m-2", 2, parent: 1), owner: Self.owner)
        #expect(first.error == nil)
        // Back to m-1, and m-2 replaced by a read-only subvolume that is
        // not a snapshot of the image m-2.received.
        let process = host.spawn()
        let directory = try await process.openRoot(Self.directory)
        try await process.unlink("m", in: directory)
        try await process.createSymlink("m", in: directory, target: "m-1")
        let revision = try await process.openDirectory("m-2", in: directory)
        try await process.setReadOnly(false, of: revision)
        await process.close(revision)
        try await process.deleteSubvolume("m-2", in: directory)
        await process.close(directory)
        try host.addSubvolume("\(Self.directory)/m-2", readOnly: true)
        let before = host.layout()
        let report = await Self.administration(host.spawn()).upgrade(
            Self.machine, stream: try Self.stream("m-2", 2, parent: 1), owner: Self.owner)
        #expect(report.error?.code == "revision-exists")
        #expect(host.layout() == before)
        #expect(host.linkTarget(at: "\(Self.directory)/m") == "m-1")
    }

    @Test("upgrade does not go back: a stream of an older revision is refused, touching nothing")
    func upgradeRefusesOlder() async throws {
        let host = try await Self.hostWithMachine()
        let admin = Self.administration(host.spawn())
        #expect(await admin.upgrade(Self.machine, stream: try Self.stream("m-3", 3, parent: 1), owner: Self.owner).error == nil)
        let before = host.layout()
        for (name, uuid) in [("m-2", 2), ("m-02", 4), ("m-1", 1)] {
            let report = await admin.upgrade(
                Self.machine, stream: try Self.stream(EntryName(name)!, UInt64(uuid)), owner: Self.owner)
            #expect(report.error?.code == "revision-older", "\(name): \(report.textLines)")
            #expect(report.exitStatus == 64)
        }
        #expect(host.layout() == before)
        #expect(host.linkTarget(at: "\(Self.directory)/m") == "m-3")
    }

    @Test(
        "upgrade keeps a writable subvolume under the new revision's or image's name that no interrupted upgrade leaves",
        arguments: ["m-2", "m-2.received"])
    func upgradeKeepsForeignWritable(name: String) async throws {
        let host = try await Self.hostWithMachine()
        // Someone's work, made by hand: not a snapshot of the image.
        try host.addSubvolume("\(Self.directory)/\(name)")
        try host.addFile("\(Self.directory)/\(name)/work")
        let before = host.layout()
        let report = await Self.administration(host.spawn()).upgrade(
            Self.machine, stream: try Self.stream("m-2", 2, parent: 1), owner: Self.owner)
        #expect(report.error?.code == "in-the-way", "\(report.textLines)")
        #expect(report.exitStatus == 64)
        #expect(host.layout() == before)
    }

    @Test("an incremental receive that took another subvolume of the same received UUID as its parent is undone")
    func upgradeReceivedAgainstACopy() async throws {
        let host = try makeHost("volume default\ntmpfs /run/lock")
        let admin = Self.administration(host.spawn())
        // Machine n received the same image first: its copy has the lower
        // id, which btrfs receive finds first.
        let other = try MachineAddress(parsing: "default/n")
        #expect(await admin.add(other, stream: try Self.stream("n-1", 1), owner: Self.owner).error == nil)
        #expect(await admin.add(Self.machine, stream: try Self.stream("m-1", 1), owner: Self.owner).error == nil)
        let report = await admin.upgrade(Self.machine, stream: try Self.stream("m-2", 2, parent: 1), owner: Self.owner)
        #expect(report.exitStatus == 1)
        #expect(report.error?.message.contains("applied the stream to another subvolume with the same received UUID") == true)
        #expect(names(host, Self.directory) == ["m", "m-1", "m-1.received"])
        #expect(host.linkTarget(at: "\(Self.directory)/m") == "m-1")
    }

    @Test("a receive against a copy, finished by a run that stopped before its check, is caught by the next run")
    func receivedAgainstACopyBeforeACrash() async throws {
        for renamed in [false, true] {
            let host = try makeHost("volume default\ntmpfs /run/lock")
            let admin = Self.administration(host.spawn())
            #expect(await admin.add(try MachineAddress(parsing: "default/n"), stream: try Self.stream("n-1", 1), owner: Self.owner).error == nil)
            #expect(await admin.add(Self.machine, stream: try Self.stream("m-1", 1), owner: Self.owner).error == nil)
            // The receive of the run that stopped: it took n's image.
            let stream = try Self.stream("m-2", 2, parent: 1)
            let process = host.spawn()
            let directory = try await process.openRoot(Self.directory)
            try await process.receive(stream, in: directory)
            if renamed { try await process.rename("m-2", in: directory, to: "m-2.received", in: directory, mode: .noReplace) }
            await process.close(directory)
            let report = await admin.upgrade(Self.machine, stream: stream, owner: Self.owner)
            #expect(report.exitStatus == 1, "\(report.textLines)")
            #expect(report.error?.message.contains("another subvolume with the same received UUID") == true)
            #expect(host.linkTarget(at: "\(Self.directory)/m") == "m-1")
            #expect(names(host, Self.directory)?.contains("m-2") == false)
        }
    }

    @Test("a receive that fails on a damaged stream deletes what it received, and says so")
    func damagedStream() async throws {
        let host = try makeHost("volume default\ntmpfs /run/lock")
        let admin = Self.administration(host.spawn())
        let whole = SendStream.empty(try Self.stream("m-1", 1).header)
        let report = await admin.add(Self.machine, stream: try SendStream(prefix: Array(whole.dropLast())), owner: Self.owner)
        #expect(report.exitStatus == 1)
        #expect(report.error?.message.contains("the stream may be damaged or truncated") == true, "\(report.textLines)")
        #expect(report.error?.message.contains("the partial subvolume is deleted") == true)
        #expect(names(host, Self.directory) == [])
        #expect(await admin.add(Self.machine, stream: try Self.stream("m-1", 1), owner: Self.owner).error == nil)
        #expect(names(host, Self.directory) == ["m", "m-1", "m-1.received"])
    }

    @Test("the longest machine name the commands take leaves room for a switch's temporary link of any pid")
    func longestMachineName() async throws {
        let longest = String(repeating: "a", count: MachineAddress.maximumMachineBytes)
        #expect(throws: AdministrationError.self) { try MachineAddress(parsing: "default/" + longest + "a") }
        let address = try MachineAddress(parsing: "default/" + longest)
        let link = MachineNaming.temporaryLink(address.machine, unique: "4194304-1000")
        #expect(link != nil && link!.rawValue.utf8.count <= 255)
        let host = try makeHost("volume default\ntmpfs /run/lock")
        let admin = Self.administration(host.spawn())
        let first = EntryName(longest + "-9")!
        #expect(await admin.add(address, stream: try Self.stream(first, 9), owner: Self.owner).error == nil)
        let second = EntryName(longest + "-10")!
        let upgrade = await admin.upgrade(address, stream: try Self.stream(second, 10, parent: 9), owner: Self.owner)
        #expect(upgrade.error == nil, "\(upgrade.textLines)")
        #expect(FSError.Kind(errno: 36).symbol == "ENAMETOOLONG")
        #expect(FSError.Kind(errno: 36).summary == "file name too long")
    }

    @Test("a temporary link left by an earlier switch neither redirects nor blocks the next")
    func leftoverTemporaryLink() async throws {
        let host = try await Self.hostWithMachine()
        let admin = Self.administration(host.spawn())
        // An earlier switch to m-2 stopped after making its link: the name
        // the next switch would take first.
        let process = host.spawn()
        let root = try await process.openRoot(Self.directory)
        try await process.createSymlink(EntryName("m.link-\(process.processID + 1)-1")!, in: root, target: "m-1")
        await process.close(root)
        let report = await admin.upgrade(Self.machine, stream: try Self.stream("m-2", 2, parent: 1), owner: Self.owner)
        #expect(report.error == nil, "\(report.textLines)")
        #expect(host.linkTarget(at: "\(Self.directory)/m") == "m-2")
        #expect(names(host, Self.directory) == ["m", "m-1", "m-1.received", "m-2", "m-2.received"])
    }

    /// The end state of a command run without interruption.
    static func reference(_ command: (Administration) async -> AdministrationReport, on host: SimulatedHost) async
        -> Layout
    {
        let report = await command(administration(host.spawn()))
        #expect(report.error == nil, "\(report.textLines)")
        return host.layout()
    }

    /// Stops the command before each of its calls in turn (a kill, or a
    /// host crash), then runs it again, or a boot cleanup: the end state
    /// is the reference's, or (after a boot cleanup) one the cleanup
    /// recognises without error.
    static func crashEverywhere(
        setup: () async throws -> SimulatedHost, by stop: StoppingGate.Stop, tolerating: Set<String> = [],
        _ command: @escaping (Administration) async -> AdministrationReport,
        afterCleanup check: (SimulatedHost) -> Void
    ) async throws {
        let end = await reference(command, on: try await setup())
        /// A host where the command was stopped before call `index`, or
        /// nil when it makes fewer calls.
        func stopped(at index: Int) async throws -> SimulatedHost? {
            let host = try await setup()
            let process = host.spawn()
            let gate = StoppingGate(stopping: process, before: index, by: stop)
            host.install(gate: gate)
            _ = await command(administration(process))
            host.install(gate: nil)
            return gate.stopped ? host : nil
        }
        var index = 0
        while let host = try await stopped(at: index) {
            let again = await command(administration(host.spawn()))
            #expect(
                again.error == nil || tolerating.contains(again.error?.code ?? ""),
                "stopped before call \(index): \(again.textLines)")
            let after = host.layout()
            #expect(
                after == end,
                "stopped before call \(index), then the command again: extra \(Set(after.entries).subtracting(end.entries).map { "\($0.kind) \($0.path) ro=\($0.readOnly) owner=\($0.owner)" }), missing \(Set(end.entries).subtracting(after.entries).map { "\($0.kind) \($0.path) ro=\($0.readOnly) owner=\($0.owner)" })")
            // The same stop, then a boot cleanup instead.
            if let boot = try await stopped(at: index) {
                let report = await cleanup(boot)
                #expect(report.diagnostics.allSatisfy { $0.level != .error }, "stopped before call \(index), then a boot cleanup: \(lines(report))")
                check(boot)
            }
            index += 1
        }
        #expect(index > 10)
    }

    @Test("add stopped at any call, by a kill or a host crash, converges when run again or cleaned at boot")
    func addCrashes() async throws {
        for stop in [StoppingGate.Stop.kill, .hostCrash] {
            try await Self.crashEverywhere(
                setup: { try makeHost("volume default\ntmpfs /run/lock") }, by: stop,
                { await $0.add(Self.machine, stream: try! Self.stream("m-1", 1), owner: Self.owner) },
                afterCleanup: { host in
                    // Without its link the machine is deleted whole, or it
                    // was complete.
                    let names = names(host, "/build/machines/default")
                    #expect(names == [] || host.linkTarget(at: "\(Self.directory)/m") == "m-1")
                })
        }
    }

    @Test("remove stopped at any call converges when run again; after a boot cleanup the machine is gone")
    func removeCrashes() async throws {
        for stop in [StoppingGate.Stop.kill, .hostCrash] {
            try await Self.crashEverywhere(
                setup: {
                    try makeHost(
                        """
                        tmpfs  /run/lock
                        subvol default/m/m-1 ro
                        subvol default/m/m-1.received ro received
                        link   default/m/m -> m-1
                        subvol default/m/m-default ro
                        subvol default/m/m-default-9-9
                        subvol default/m/m-default-9-9/nested ro
                        file   default/m/m-default.lock
                        subvol default/n/n-1 ro
                        link   default/n/n -> n-1
                        """)
                // Stopped after the directory went, the machine is gone:
                // there is nothing to remove.
                }, by: stop, tolerating: ["no-such-machine"], { await $0.remove(Self.machine, timeout: 10) },
                afterCleanup: { host in
                    // Committed, the link's removal deletes the machine at
                    // boot; lost in a host crash, the machine is whole.
                    let names = names(host, "/build/machines/default")
                    #expect(names == ["n"] || host.linkTarget(at: "\(Self.directory)/m") == "m-1")
                })
        }
    }

    @Test("upgrade stopped at any call converges; until the switch the old revision stays current")
    func upgradeCrashes() async throws {
        for stop in [StoppingGate.Stop.kill, .hostCrash] {
            try await Self.crashEverywhere(
                setup: { try await Self.hostWithMachine() }, by: stop,
                {
                    await $0.upgrade(
                        Self.machine, stream: try! Self.stream("m-2", 2, parent: 1), owner: Self.owner, removeOld: true)
                },
                afterCleanup: { host in
                    let target = host.linkTarget(at: "\(Self.directory)/m")
                    #expect(target == "m-1" || target == "m-2")
                    // Whatever is linked is a finished revision.
                    if let target {
                        #expect(host.subvolumeInfo(at: "\(Self.directory)/\(target)")?.isReadOnly == true)
                    }
                    // --remove-old deletes the old image before its
                    // revision: no stop leaves it alone. (The new image
                    // alone is a receive not yet snapshotted, which the
                    // command again finishes.)
                    let entries = names(host, Self.directory) ?? []
                    #expect(!entries.contains("m-1.received") || entries.contains("m-1"), "\(entries)")
                })
        }
    }

    // MARK: The second black-box round's findings

    @Test("--remove-old keeps a writable subvolume under an older revision's or image's name, and an image never received")
    func removeOldKeepsWritable() async throws {
        let host = try await Self.hostWithMachine()
        try host.addSubvolume("\(Self.directory)/m-0")
        try host.addSubvolume("\(Self.directory)/m-0.received")
        try host.addSubvolume("\(Self.directory)/m-00.received", readOnly: true)
        let report = await Self.administration(host.spawn()).upgrade(
            Self.machine, stream: try Self.stream("m-2", 2, parent: 1), owner: Self.owner, removeOld: true)
        #expect(report.error == nil, "\(report.textLines)")
        #expect(names(host, Self.directory) == ["m", "m-0", "m-0.received", "m-00.received", "m-2", "m-2.received"])
        #expect(report.notes.filter { $0.hasPrefix("kept ") }.count == 3, "\(report.notes)")
        #expect(report.notes.contains { $0.contains("m-0: a writable subvolume, which is no revision") })
    }

    @Test("upgrade with another stream of the current revision's name is refused, and --remove-old deletes nothing")
    func upgradeSameNameOtherStream() async throws {
        let host = try await Self.hostWithMachine()
        let admin = Self.administration(host.spawn())
        #expect(await admin.upgrade(Self.machine, stream: try Self.stream("m-2", 2, parent: 1), owner: Self.owner).error == nil)
        let before = host.layout()
        let other = await admin.upgrade(Self.machine, stream: try Self.stream("m-2", 99), owner: Self.owner, removeOld: true)
        #expect(other.error?.code == "revision-exists")
        #expect(other.exitStatus == 64)
        #expect(host.layout() == before)
        // The same stream again: already current, and --remove-old goes on.
        let again = await admin.upgrade(
            Self.machine, stream: try Self.stream("m-2", 2, parent: 1), owner: Self.owner, removeOld: true)
        #expect(again.error == nil)
        #expect(again.notes.contains("already current: default/m is m-2, from this stream"))
        #expect(names(host, Self.directory) == ["m", "m-2", "m-2.received"])
    }

    @Test("a receive stopped between its received UUID and its read-only flag is received again", arguments: ["add", "upgrade"])
    func receiveStoppedBeforeReadOnly(command: String) async throws {
        let host = command == "add" ? try makeHost("volume default\ntmpfs /run/lock") : try await Self.hostWithMachine()
        let stream = command == "add" ? try Self.stream("m-1", 1) : try Self.stream("m-2", 2, parent: 1)
        // What btrfs receive leaves when it stops after
        // SET_RECEIVED_SUBVOL: the stream's received UUID, writable.
        let process = host.spawn()
        if command == "add" { try host.addDirectory(Self.directory) }
        let directory = try await process.openRoot(Self.directory)
        try await process.receive(stream, in: directory)
        let received = try await process.openDirectory(stream.header.name, in: directory)
        try await process.setReadOnly(false, of: received)
        #expect(try await process.subvolumeInfo(of: received).receivedUUID == stream.header.uuid)
        await process.close(received)
        await process.close(directory)
        let admin = Self.administration(host.spawn())
        let report =
            command == "add"
            ? await admin.add(Self.machine, stream: stream, owner: Self.owner)
            : await admin.upgrade(Self.machine, stream: stream, owner: Self.owner)
        #expect(report.error == nil, "\(report.textLines)")
        #expect(report.steps.map(\.action).contains(.deleteSubvolume))
        #expect(host.linkTarget(at: "\(Self.directory)/m") == stream.header.name.rawValue)
        #expect(lines(await cleanup(host)) == [])
    }

    @Test("a receive that fails on a subvolume someone made under its name meanwhile does not delete it")
    func receiveFailsOnAStranger() async throws {
        let host = try await Self.hostWithMachine()
        let admin = host.spawn()
        let other = host.spawn()
        // Right after the command has listed the machine directory (its
        // run, after its dry run's look), another process makes `m-2`
        // (read-only, not a receive): the receive then fails with EEXIST.
        let gate = ScriptedGate(watching: admin.processID)
        let listing: @Sendable (SimulatedCall) -> Bool = { $0.operation == .list && $0.subject == Self.directory }
        gate.after(listing) {
            gate.after(listing) {
                let directory = try await other.openRoot(Self.directory)
                try await other.createSubvolume("m-2", in: directory)
                let made = try await other.openDirectory("m-2", in: directory)
                try await other.setReadOnly(true, of: made)
                await other.close(made)
                await other.close(directory)
            }
        }
        host.install(gate: gate)
        let report = await Self.administration(admin).upgrade(
            Self.machine, stream: try Self.stream("m-2", 2, parent: 1), owner: Self.owner)
        host.install(gate: nil)
        #expect(report.exitStatus == 1)
        #expect(report.error?.message.contains("nothing was received") == true, "\(report.error?.message ?? "")")
        #expect(host.subvolumeInfo(at: "\(Self.directory)/m-2")?.isReadOnly == true)
        #expect(!report.steps.contains { $0.action == .deleteSubvolume })
    }

    @Test("a host crash after the received UUID's step keeps it (that ioctl commits), not the read-only flag")
    func crashBeforeReadOnly() async throws {
        let host = try makeHost("volume default\ntmpfs /run/lock\ndir default/m")
        let stream = try Self.stream("m-1", 1)
        let process = host.spawn()
        // Its calls: open the directory (0), then the receive's three
        // steps; the host crashes before the third.
        let gate = StoppingGate(stopping: process, before: 3, by: .hostCrash)
        host.install(gate: gate)
        let directory = try await process.openRoot(Self.directory)
        try? await process.receive(stream, in: directory)
        host.install(gate: nil)
        #expect(gate.stopped)
        let info = try #require(host.subvolumeInfo(at: "\(Self.directory)/m-1"))
        #expect(info.receivedUUID == stream.header.uuid)
        #expect(!info.isReadOnly)
        // What that leaves, the command receives again.
        let report = await Self.administration(host.spawn()).add(Self.machine, stream: stream, owner: Self.owner)
        #expect(report.error == nil, "\(report.textLines)")
        #expect(host.linkTarget(at: "\(Self.directory)/m") == "m-1")
    }

    @Test("btrfs receive failing after the revision was whole: the error says so, and a rerun goes on from it")
    func receiveFailsWhenWhole() async throws {
        let host = try await Self.hostWithMachine()
        let process = host.spawn()
        // The receive's fourth call is btrfs receive's exit: killed there,
        // the revision is read-only with the stream's received UUID.
        host.install(gate: FailingGate.failing(4, of: { $0.operation == .receive }, with: .ioError, watching: process.processID))
        let stream = try Self.stream("m-2", 2, parent: 1)
        let report = await Self.administration(process).upgrade(Self.machine, stream: stream, owner: Self.owner)
        host.install(gate: nil)
        #expect(report.exitStatus == 1)
        let message = report.error?.message ?? ""
        #expect(message.contains("the revision was received whole before that"), "\(message)")
        #expect(!message.contains("nothing was received"), "\(message)")
        #expect(host.subvolumeInfo(at: "\(Self.directory)/m-2")?.receivedUUID == stream.header.uuid)
        let rerun = await Self.administration(host.spawn()).upgrade(Self.machine, stream: stream, owner: Self.owner)
        #expect(rerun.error == nil, "\(rerun.textLines)")
        #expect(host.linkTarget(at: "\(Self.directory)/m") == "m-2")
        #expect(!rerun.steps.contains { $0.action == .receive })
    }

    @Test("a receive that fails before it made anything says nothing was received, not that a rerun finishes")
    func receiveRefused() async throws {
        let host = try await Self.hostWithMachine()
        // btrfs receive refuses the stream before it makes the subvolume
        // (a stream version it does not know, say).
        let process = host.spawn()
        let gate = FailingGate(watching: process.processID) { call, _ in call.operation == .receive ? .ioError : nil }
        host.install(gate: gate)
        let report = await Self.administration(process).upgrade(
            Self.machine, stream: try Self.stream("m-2", 2, parent: 1), owner: Self.owner)
        host.install(gate: nil)
        #expect(report.exitStatus == 1)
        #expect(report.steps.last?.action == .receive)
        let message = report.error?.message ?? ""
        #expect(message.contains("nothing was received"), "\(message)")
        #expect(!message.contains("running the command again finishes the job"), "\(message)")
        #expect(names(host, Self.directory) == ["m", "m-1", "m-1.received"])
    }

}
