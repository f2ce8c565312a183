import Cleanup
import FSProtocol
import MachineLayout
import SimFS
import Testing
import TestSupport

/// SPEC §3, one test per row: what the original got wrong, and what the
/// cleanup does instead, on SimFS.
@Suite("SPEC §3: what the original gets wrong")
struct SpecRowTests {
    @Test("a symbolic link like m-latest -> m-2 is reported, and m-2 stays")
    func symlinksAreNotFollowed() async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            subvol default/m/m-2 ro
            link   default/m/m -> m-2
            link   default/m/m-latest -> m-2
            link   default/m/m-default-9-9 -> m-2
            subvol default/m/m-default-1-1
            link   default/m/m-default-1-1/escape -> ../m-2
            """)
        let report = await cleanup(host)
        #expect(
            lines(report) == [
                "\(machine)/m-default-1-1: info: deleted subvolume",
                "\(machine)/m-default-9-9: warning: symbolic link, kept, not followed",
                "\(machine)/m-latest: warning: symbolic link, kept, not followed",
            ])
        #expect(names(host, machine) == ["m", "m-1", "m-2", "m-default-9-9", "m-latest"])
        #expect(host.subvolumeInfo(at: "\(machine)/m-2")?.isReadOnly == true)
        #expect(report.exitStatus == 0)
    }

    @Test("a dangling current link is an error; revisions and bootstrapped machines stay")
    func danglingLink() async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            link   default/m/m -> m-3
            subvol default/m/m-default
            subvol default/m/m-old
            subvol default/m/m-default-1-1
            """)
        let report = await cleanup(host)
        #expect(
            lines(report) == [
                "\(machine)/m: error: dangling current machine link to m-3",
                "\(machine)/m-default-1-1: info: deleted subvolume",
            ])
        #expect(names(host, machine) == ["m", "m-1", "m-default", "m-old"])
        #expect(report.status == .halted)
        #expect(report.exitStatus == 1)
    }

    @Test("the target of a valid current link stays, whatever its name")
    func currentTargetIsProtected() async throws {
        let host = try makeHost(
            """
            subvol default/m/m-current-build ro
            link   default/m/m -> m-current-build
            subvol default/n/n-old
            link   default/n/n -> n-old
            subvol default/n/n-other
            """)
        let report = await cleanup(host)
        #expect(lines(report) == ["/build/machines/default/n/n-other: info: deleted subvolume"])
        #expect(names(host, machine) == ["m", "m-current-build"])
        #expect(names(host, "/build/machines/default/n") == ["n", "n-old"])
    }


    @Test(
        "a current link in error that still resolves to one of the machine's subvolumes keeps it, whatever its name",
        arguments: [
            "./m-default-7-1", "m-default-7-1/", "../m/m-default-7-1", "/build/machines/default/m/m-default-7-1",
            "/elsewhere/m-default-7-1", "m-default-7-1/disk.img", "m-default-7-1/boot/..", "../m/m-default-7-1/x",
            // Named after another subvolume: every one it names stays.
            "m-1/../m-default-7-1",
        ])
    func currentLinkInErrorKeepsItsTarget(target: String) async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            subvol default/m/m-default-7-1
            subvol default/m/m-default-8-1
            link   default/m/m -> \(target)
            """)
        let report = await cleanup(host)
        #expect(
            lines(report) == [
                "\(machine)/m: error: invalid current machine link to \(target): not the name of an entry of the machine directory",
                "\(machine)/m-default-8-1: info: deleted subvolume",
            ])
        #expect(names(host, machine) == ["m", "m-1", "m-default-7-1"])
        #expect(report.exitStatus == 1)
    }
    @Test("stale lock files are removed; unknown files are a warning and stay")
    func lockFilesAndUnknownFiles() async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            link   default/m/m -> m-1
            file   default/m/m-default.lock
            file   default/m/m-gone.lock
            file   default/m/notes.txt
            fifo   default/m/m-pipe
            """)
        let report = await cleanup(host)
        #expect(
            lines(report) == [
                "\(machine)/m-default.lock: info: removed stale lock file",
                "\(machine)/m-gone.lock: info: removed stale lock file",
                "\(machine)/m-pipe: warning: unknown entry (special file), kept",
                "\(machine)/notes.txt: warning: unknown entry (regular file), kept",
            ])
        #expect(names(host, machine) == ["m", "m-1", "m-pipe", "notes.txt"])
        #expect(report.exitStatus == 0)
    }

    @Test("a plain directory named m-* is reported as not a subvolume and never deleted")
    func plainDirectoryIsKept() async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            link   default/m/m -> m-1
            dir    default/m/m-default-1-1
            file   default/m/m-default-1-1/disk.img
            dir    default/m/m-2
            """)
        let report = await cleanup(host)
        #expect(
            lines(report) == [
                "\(machine)/m-2: warning: not a subvolume (plain directory), kept",
                "\(machine)/m-default-1-1: warning: not a subvolume (plain directory), kept",
            ])
        #expect(names(host, "\(machine)/m-default-1-1") == ["disk.img"])
        #expect(report.status == .warnings)
        #expect(report.summary == "unexpected entries in /build/machines/, kept")
    }

    @Test("the scan does not enter a dot-volume, nor a directory that cannot name a machine, as the original does not")
    func scanSkipsDotEntries() async throws {
        let host = try makeHost(
            """
            subvol .snapshots/m/m-1 ro
            subvol default/.m/.m-1
            subvol default/-m/-m-1
            subvol default/m/m-1 ro
            link   default/m/m -> m-1
            """)
        let scan = try await Scanner(fileSystem: host.spawn()).scan(rootPath: Layout.defaultRoot)
        #expect(scan.volumes.map(\.name.rawValue) == [".snapshots", "default"])
        #expect(scan.volumes.first?.content == .skipped)
        guard case .listed(let machines)? = scan.volumes.last?.content else {
            Issue.record("the volume default is not listed")
            return
        }
        #expect(machines.map(\.name.rawValue) == ["-m", ".m", "m"])
        #expect(machines.map { $0.content == .skipped } == [true, true, false])
    }

    @Test("only a regular file named <m>-<tc>.lock is a lock file: a link, a directory or a subvolume of that name stays")
    func lockNamesOfOtherKinds() async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            link   default/m/m -> m-1
            link   default/m/m-default.lock -> m-1
            dir    default/m/m-gcc.lock
            subvol default/m/m-clang.lock
            file   default/m/m-icc.lock
            """)
        let report = await cleanup(host)
        #expect(
            lines(report) == [
                "\(machine)/m-clang.lock: warning: unknown entry (subvolume), kept",
                "\(machine)/m-default.lock: warning: symbolic link, kept, not followed",
                "\(machine)/m-gcc.lock: warning: unknown entry (plain directory), kept",
                "\(machine)/m-icc.lock: info: removed stale lock file",
            ])
        #expect(names(host, machine) == ["m", "m-1", "m-clang.lock", "m-default.lock", "m-gcc.lock"])
        #expect(report.decisions.filter { $0.outcome == .removed }.map(\.item.path.entry) == ["m-icc.lock"])
    }

    @Test("read-only is never touched: a received read-only stray is deleted as it is")
    func readOnlyIsNeverTouched() async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro received
            link   default/m/m -> m-1
            subvol default/m/m-default-1-1 ro received
            subvol default/m/m-old ro
            """)
        let recorder = EventRecorder()
        host.install(observer: recorder)
        let report = await cleanup(host)
        #expect(
            lines(report) == [
                "\(machine)/m-default-1-1: info: deleted subvolume",
                "\(machine)/m-old: info: deleted subvolume",
            ])
        let flips = recorder.events.filter { $0.call.operation == .setReadOnly }
        #expect(flips.isEmpty)
        #expect(host.subvolumeInfo(at: "\(machine)/m-1")?.isReadOnly == true)
    }

    @Test("unprivileged, a read-only stray fails with EROFS and a hint; it stays read-only")
    func unprivilegedReadOnly() async throws {
        let host = try makeHost(
            """
            volume default owner=1000:1000
            dir    default/m owner=1000:1000
            subvol default/m/m-1 ro owner=1000:1000
            link   default/m/m -> m-1
            subvol default/m/m-default-1-1 ro owner=1000:1000
            subvol default/m/m-default-1-2 owner=1000:1000
            """)
        let report = await cleanup(host, as: Credentials(user: 1000, group: 1000))
        #expect(
            lines(report) == [
                "\(machine)/m-default-1-1: error: unable to delete subvolume: read-only subvolume, run as root (EROFS)",
                "\(machine)/m-default-1-2: info: deleted subvolume",
            ])
        #expect(host.subvolumeInfo(at: "\(machine)/m-default-1-1")?.isReadOnly == true)
        #expect(report.exitStatus == 1)
    }

    @Test("root refused a stray (EPERM: the default subvolume, a send under way): the line says what btrfs refuses so")
    func rootRefusedWithEPERM() async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            link   default/m/m -> m-1
            subvol default/m/m-default-1-1 default
            """)
        let report = await cleanup(host)
        #expect(
            lines(report) == [
                "\(machine)/m-default-1-1: error: unable to delete subvolume: operation not permitted: immutable or "
                    + "append-only (it or its directory; see lsattr), a btrfs send of it under way, an active swap file "
                    + "in it, or the filesystem's default subvolume (EPERM)"
            ])
        #expect(report.exitStatus == 1)
    }

    @Test("a stray holding nested subvolumes is deleted depth-first, without following links")
    func nestedSubvolumes() async throws {
        let host = try makeHost(
            """
            subvol default/m/m-2 ro
            link   default/m/m -> m-2
            subvol default/m/m-default-1-1
            subvol default/m/m-default-1-1/a
            subvol default/m/m-default-1-1/a/b
            subvol default/m/m-default-1-1/c
            link   default/m/m-default-1-1/to-current -> ../m-2
            """)
        let report = await cleanup(host)
        #expect(
            lines(report) == [
                "\(machine)/m-default-1-1/a/b: info: deleted nested subvolume",
                "\(machine)/m-default-1-1/a: info: deleted nested subvolume",
                "\(machine)/m-default-1-1/c: info: deleted nested subvolume",
                "\(machine)/m-default-1-1: info: deleted subvolume",
            ])
        #expect(names(host, machine) == ["m", "m-2"])
        #expect(report.exitStatus == 0)
    }

    @Test("an entry vanishing during the scan, or before its delete, is skipped silently")
    func vanishingEntries() async throws {
        let host = try makeHost(
            """
            subvol default/a/a-1 ro
            link   default/a/a -> a-1
            subvol default/a/a-default-1-1
            subvol default/gone/gone-1
            subvol default/m/m-1 ro
            link   default/m/m -> m-1
            subvol default/m/m-default-1-1
            subvol default/m/m-default-1-2
            """)
        let other = host.spawn(.root)
        let cleaner = host.spawn(.root)
        let gate = ScriptedGate(watching: cleaner.processID)
        // The machine 'gone' disappears after its volume is listed.
        gate.after({ $0.operation == .list && $0.subject == "/build/machines/default" }) {
            let volume = try await other.openRoot("/build/machines/default")
            let gone = try await other.openDirectory("gone", in: volume)
            try await other.deleteSubvolume("gone-1", in: gone)
            try await other.removeDirectory("gone", in: volume)
        }
        // m-default-1-2 disappears after the cleanup deleted its neighbour.
        gate.after({ $0.operation == .deleteSubvolumeByID && $0.subject.contains("m-default-1-1") }) {
            let directory = try await other.openRoot(machine)
            try await other.deleteSubvolume("m-default-1-2", in: directory)
        }
        host.install(gate: gate)
        let set = ToolchainSet([.default])
        let report = await CleanupRun(fileSystem: cleaner, root: "/build/machines", toolchains: set).run().report
        #expect(
            lines(report) == [
                "/build/machines/default/a/a-default-1-1: info: deleted subvolume",
                "\(machine)/m-default-1-1: info: deleted subvolume",
            ])
        #expect(report.decisions.filter { $0.outcome == .vanished }.map(\.item.path.description) == ["default/m/m-default-1-2"])
        #expect(report.exitStatus == 0)
    }

    @Test("deletions are synced: a crash right after the cleanup does not bring strays back")
    func deletionsAreSynced() async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            link   default/m/m -> m-1
            subvol default/m/m-default-1-1
            volume other
            subvol other/n/n-default-1-1
            """)
        let report = await cleanup(host)
        #expect(report.syncedVolumes == ["default", "other"])
        host.crash()
        #expect(names(host, machine) == ["m", "m-1"])
        #expect(names(host, "/build/machines/other") == [])
    }

    @Test("a machine directory on a filesystem of its own: what goes in it is synced there, not on the volume's")
    func machineOnAnotherFilesystemIsSynced() async throws {
        let host = try makeHost(
            """
            volume default
            volume default/m
            subvol default/m/m-1 ro
            link   default/m/m -> m-1
            subvol default/m/m-default-1-1
            subvol default/n/n-1 ro
            link   default/n/n -> n-1
            """)
        let report = await cleanup(host)
        #expect(lines(report) == ["\(machine)/m-default-1-1: info: deleted subvolume"])
        // The volume lost nothing: no sync of it; the machine's own
        // filesystem was, so a crash keeps the deletion.
        #expect(report.syncedVolumes == [])
        host.crash()
        #expect(names(host, machine) == ["m", "m-1"])
    }

    @Test("a machine directory that is a subvolume of its own is a subvolume deletion: its volume is synced")
    func subvolumeMachineDirectoryIsSynced() async throws {
        let host = try makeHost(
            """
            volume default
            subvol default/m-1 ro
            dir    default/n
            """)
        let report = await cleanup(host)
        #expect(
            lines(report) == [
                "/build/machines/default/m-1: info: deleted machine directory",
                "/build/machines/default/n: info: deleted machine directory",
            ])
        #expect(report.syncedVolumes == ["default"])
    }

    @Test("an empty toolchain set deletes bootstrapped machines only when stated explicitly")
    func emptyToolchainSet() async throws {
        #expect(throws: ConfigurationError.self) {
            try ToolchainSet.resolve(names: [], kernelCommandLine: "", explicitlyNone: false)
        }
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            link   default/m/m -> m-1
            subvol default/m/m-default
            """)
        let report = await cleanup(host, toolchains: [])
        #expect(lines(report) == ["\(machine)/m-default: info: deleted subvolume"])
    }

    @Test("names starting with '-' are only ever names: no tool sees them")
    func dashNames() async throws {
        let host = try makeHost(
            """
            subvol default/-rf/-rf-1
            subvol default/m/m-1 ro
            link   default/m/m -> m-1
            subvol default/m/m-default--rf
            subvol default/m/m--force
            """)
        let report = await cleanup(host)
        #expect(
            lines(report) == [
                "/build/machines/default/-rf: warning: unknown entry (plain directory), kept",
                "\(machine)/m--force: warning: unknown entry (subvolume), kept",
                "\(machine)/m-default--rf: info: deleted subvolume",
            ])
        #expect(names(host, "/build/machines/default/-rf") == ["-rf-1"])
    }

    @Test("dot-entries and names without m- are looked at and reported")
    func everythingIsEnumerated() async throws {
        let host = try makeHost(
            """
            dir    .trash
            dir    default/.staging
            subvol default/m/m-1 ro
            link   default/m/m -> m-1
            subvol default/m/.m-default-1-1
            subvol default/m/tmp
            """)
        let report = await cleanup(host)
        #expect(
            lines(report) == [
                "/build/machines/.trash: warning: unknown entry (plain directory), kept",
                "/build/machines/default/.staging: warning: unknown entry (plain directory), kept",
                "\(machine)/.m-default-1-1: warning: unknown entry (subvolume), kept",
                "\(machine)/tmp: warning: unknown entry (subvolume), kept",
            ])
    }

    @Test("boot mode decides by name alone: it assumes no agent runs, as the original did")
    func bootContract() async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            link   default/m/m -> m-1
            subvol default/m/m-default
            subvol default/m/m-default-7-1
            file   default/m/m-default.lock owner=1000:1000
            """)
        // An agent that (against the contract) still runs holds the lock.
        let agent = host.spawn(Credentials(user: 1000, group: 1000))
        let directory = try await agent.openRoot(machine)
        let lock = try await agent.openFile("m-default.lock", in: directory, options: [.write])
        #expect(try await agent.tryLock(lock))
        let report = await cleanup(host)
        #expect(
            lines(report) == [
                "\(machine)/m-default-7-1: info: deleted subvolume",
                "\(machine)/m-default.lock: info: removed stale lock file",
            ])
        #expect(names(host, machine) == ["m", "m-1", "m-default"])
    }

    @Test("an entry swapped between the check and the delete is kept")
    func identityIsRechecked() async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            link   default/m/m -> m-1
            subvol default/m/m-default-1-1
            """)
        let cleaner = host.spawn(.root)
        let plan = try await CleanupRun(fileSystem: cleaner, root: "/build/machines", toolchains: ToolchainSet([.default]))
            .plan().get()
        // Another process replaces the stray with a different subvolume.
        let other = host.spawn(.root)
        let directory = try await other.openRoot(machine)
        try await other.deleteSubvolume("m-default-1-1", in: directory)
        try await other.createSubvolume("m-default-1-1", in: directory)
        let report = await Applier(fileSystem: cleaner).apply(plan)
        #expect(lines(report) == ["\(machine)/m-default-1-1: warning: changed since scan, kept"])
        #expect(names(host, machine) == ["m", "m-1", "m-default-1-1"])
    }

    @Test("a stray with something mounted inside is refused, naming the mount")
    func mountInside() async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            link   default/m/m -> m-1
            subvol default/m/m-default-1-1
            mount  default/m/m-default-1-1/mnt
            subvol default/m/m-default-1-2
            """)
        let refusal = "\(machine)/m-default-1-1: error: unable to delete subvolume: mount point inside: \(machine)/m-default-1-1/mnt"
        // The dry run looks for mounts too, read-only: it foresees the
        // refusal, and exits as the run will.
        let before = host.treeChanges
        let dry = await CleanupRun(fileSystem: host.spawn(), root: Layout.defaultRoot, toolchains: ToolchainSet([.default]))
            .run(dryRun: true).report
        #expect(host.treeChanges == before)
        #expect(lines(dry) == [refusal])
        #expect(dry.exitStatus == 1)
        #expect(dry.decisions.map(\.outcome.code).filter { $0 != "kept" } == ["refused", "planned"])
        let report = await cleanup(host)
        #expect(lines(report) == [refusal, "\(machine)/m-default-1-2: info: deleted subvolume"])
        #expect(names(host, machine) == ["m", "m-1", "m-default-1-1"])
        #expect(report.exitStatus == 1)
    }

    @Test("a deleted machine whose entry this run could not delete: its directory is not 'changed since scan'")
    func machineDirectoryKeptByAFailure() async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            mount  default/m/m-1/mnt
            subvol default/n/n-1 ro
            """)
        let machine = "/build/machines/default/m"
        let refusals = [
            "\(machine)/m-1: error: unable to delete subvolume: mount point inside: \(machine)/m-1/mnt",
            "\(machine): error: unable to delete machine directory: directory not empty (ENOTEMPTY)",
        ]
        // The dry run foresees both lines, the directory's too.
        let dry = await cleanup(host, dryRun: true)
        #expect(lines(dry) == refusals)
        #expect(dry.decisions.first { $0.item.path.rendered(root: "/build/machines") == machine }?.outcome.code == "failed")
        let report = await cleanup(host)
        #expect(lines(report).filter { $0.hasPrefix(machine + ":") || $0.hasPrefix(machine + "/") } == refusals)
        #expect(report.decisions.first { $0.item.path.rendered(root: "/build/machines") == machine }?.outcome.code == "failed")
        // The other machine without link goes whole (a directory that
        // gains an entry after the scan is "changed": ApplyRaceTests).
        #expect(lines(report).contains("/build/machines/default/n: info: deleted machine directory"))
    }
}

/// What the delete does on kernels older than 5.7, which cannot delete by
/// id: the same identity check, then a delete by name.
@Suite("Deleting on old kernels")
struct OldKernelTests {
    final class NoDeleteByID: SimulationGate {
        func waitForTurn(of pid: Int32) async -> Bool { true }
        func decide(_ call: SimulatedCall) -> GateDecision {
            call.operation == .deleteSubvolumeByID ? .fail(.notSupported) : .proceed
        }
    }

    @Test("without delete by id, the checked subvolume is deleted by name")
    func fallback() async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            link   default/m/m -> m-1
            subvol default/m/m-default-1-1
            """)
        let recorder = EventRecorder()
        host.install(gate: NoDeleteByID())
        host.install(observer: recorder)
        let report = await cleanup(host)
        #expect(lines(report) == ["\(machine)/m-default-1-1: info: deleted subvolume"])
        let deletes = recorder.events.filter { $0.call.operation == .deleteSubvolume || $0.call.operation == .deleteSubvolumeByID }
        #expect(deletes.map(\.call.operation) == [.deleteSubvolumeByID, .deleteSubvolume])
        #expect(deletes.map { $0.error?.kind } == [.notSupported, nil])
        #expect(names(host, machine) == ["m", "m-1"])
    }

    @Test("without delete by id, a name that holds another subvolume by then is not deleted: the error stands")
    func fallbackOnSwappedName() async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            link   default/m/m -> m-1
            subvol default/m/m-default-1-1
            """)
        let process = host.spawn()
        let other = host.spawn()
        let gate = ScriptedGate(watching: process.processID) { call in
            call.operation == .deleteSubvolumeByID ? .notSupported : nil
        }
        // Between the failed delete by id and what follows, another
        // process moves the stray aside and puts a subvolume in its name.
        gate.after({ $0.operation == .deleteSubvolumeByID }) {
            let directory = try await other.openRoot(machine)
            try await other.rename("m-default-1-1", in: directory, to: "moved", in: directory, mode: .noReplace)
            try await other.createSubvolume("m-default-1-1", in: directory)
            await other.close(directory)
        }
        host.install(gate: gate)
        let report = await CleanupRun(fileSystem: process, root: Layout.defaultRoot, toolchains: ToolchainSet([.default])).run().report
        host.install(gate: nil)
        #expect(
            lines(report) == [
                "\(machine)/m-default-1-1: error: unable to delete subvolume: "
                    + FSError(.notSupported, .deleteSubvolumeByID).cause
            ])
        #expect(names(host, machine) == ["m", "m-1", "m-default-1-1", "moved"])
    }
}
