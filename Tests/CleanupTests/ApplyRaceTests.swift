import Cleanup
import FSProtocol
import MachineLayout
import SimFS
import Synchronization
import Testing
import TestSupport

/// An entry that goes between the cleanup's last check and its action, and
/// the promises of docs/cleanup.md about syncs and the root's spelling.
@Suite("Entries vanishing right before the action; syncs; the root")
struct ApplyRaceTests {
    /// Runs the boot cleanup as root; `action` runs (as another root
    /// process, in the machines root) right after the cleaner's first call
    /// that matches.
    func cleanup(
        _ host: SimulatedHost, after matches: @escaping @Sendable (SimulatedCall) -> Bool,
        run action: @escaping @Sendable (SimulatedProcess, DirectoryHandle) async throws -> Void
    ) async -> Report {
        let cleaner = host.spawn()
        let other = host.spawn()
        let gate = ScriptedGate(watching: cleaner.processID)
        gate.after(matches) {
            let root = try await other.openRoot(Layout.defaultRoot)
            try await action(other, root)
            await other.close(root)
        }
        host.install(gate: gate)
        defer { host.install(gate: nil) }
        return await CleanupRun(fileSystem: cleaner, root: Layout.defaultRoot, toolchains: ToolchainSet([.default]))
            .run().report
    }

    /// Runs the boot cleanup on a host whose machine `default/gone` is
    /// being deleted; `action` runs on the volume right after the
    /// cleaner's check of the emptied directory, before its rmdir.
    func cleanupAfterEmptied(
        _ host: SimulatedHost, _ action: @escaping @Sendable (SimulatedProcess, DirectoryHandle) async throws(FSError) -> Void
    ) async -> Report {
        let cleaner = host.spawn()
        let other = host.spawn()
        let gate = ScriptedGate(watching: cleaner.processID)
        // The machine directory is checked once when it is reopened for
        // its entries and once before the rmdir: watch for the second.
        gate.after({ $0.operation == .deleteSubvolumeByID }) {
            gate.after({ $0.operation == .status && $0.subject == "/build/machines/default/gone" }) {
                let root = try await other.openRoot("/build/machines/default")
                try await action(other, root)
                await other.close(root)
            }
        }
        host.install(gate: gate)
        defer { host.install(gate: nil) }
        return await CleanupRun(fileSystem: cleaner, root: Layout.defaultRoot, toolchains: ToolchainSet([.default]))
            .run().report
    }

    func outcome(_ report: Report, _ entry: String) -> Outcome? {
        report.decisions.first { $0.item.path.description == entry }?.outcome
    }

    /// The boot cleanup's plan of `host`, and the process that made it, to
    /// change the tree before the plan is carried out.
    func planned(_ host: SimulatedHost) async throws -> (SimulatedProcess, Plan) {
        let cleaner = host.spawn()
        let run = CleanupRun(fileSystem: cleaner, root: Layout.defaultRoot, toolchains: ToolchainSet([.default]))
        return (cleaner, try await run.plan().get())
    }

    @Test("a subvolume replaced after the scan is kept on its identity alone, in a plan without subvolume ids")
    func replacedSubvolumeByIdentity() async throws {
        // The listing's subvolume id is checked too; here it is taken out of
        // the plan, so that the identity check stands on its own.
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            link   default/m/m -> m-1
            subvol default/m/m-default-1-1
            """)
        let (cleaner, original) = try await planned(host)
        var plan = original
        for index in plan.items.indices { plan.items[index].subvolume = nil }
        // Another process moves the stray aside and makes a new subvolume
        // under its name (the old one lives on: a new device number).
        let other = host.spawn()
        let directory = try await other.openRoot(Layout.defaultRoot + "/default/m")
        try await other.rename("m-default-1-1", in: directory, to: "aside", in: directory, mode: .noReplace)
        try await other.createSubvolume("m-default-1-1", in: directory)
        await other.close(directory)
        let report = await Applier(fileSystem: cleaner).apply(plan)
        #expect(lines(report) == ["\(machine)/m-default-1-1: warning: changed since scan, kept"])
        #expect(outcome(report, "default/m/m-default-1-1") == .changed)
        #expect(names(host, machine) == ["aside", "m", "m-1", "m-default-1-1"])
    }

    @Test(
        "a lock file or a temporary link replaced after the scan by another of its name and kind is kept",
        arguments: ["lock", "link"])
    func replacedFileByIdentity(kind: String) async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            link   default/m/m -> m-1
            file   default/m/m-default.lock
            link   default/m/m.link-1-1 -> m-1
            """)
        let (cleaner, plan) = try await planned(host)
        // Another process removes the entry and makes a new one under its
        // name: same kind, another inode.
        let other = host.spawn()
        let directory = try await other.openRoot(Layout.defaultRoot + "/default/m")
        let name: EntryName = kind == "lock" ? "m-default.lock" : "m.link-1-1"
        try await other.unlink(name, in: directory)
        if kind == "lock" {
            try await other.writeFile(name, in: directory, "a build's lock")
        } else {
            try await other.createSymlink(name, in: directory, target: "m-1")
        }
        await other.close(directory)
        let report = await Applier(fileSystem: cleaner).apply(plan)
        let kept = "\(machine)/\(name): warning: changed since scan, kept"
        #expect(lines(report).contains(kept))
        #expect(outcome(report, "default/m/\(name)") == .changed)
        #expect(names(host, machine)?.contains(name.rawValue) == true)
    }

    @Test("a machine directory replaced after the scan by another, empty one is kept, and its entries not looked for")
    func replacedMachineDirectory() async throws {
        let host = try makeHost("subvol default/gone/gone-1 ro")
        let (cleaner, plan) = try await planned(host)
        #expect(plan.items.contains { $0.action == .deleteMachineDirectory })
        let other = host.spawn()
        let volume = try await other.openRoot(Layout.defaultRoot + "/default")
        try await other.rename("gone", in: volume, to: "aside", in: volume, mode: .noReplace)
        try await other.makeDirectory("gone", in: volume)
        await other.close(volume)
        let report = await Applier(fileSystem: cleaner).apply(plan)
        // Its entries are not looked for in the new directory: the
        // directory itself is no longer the one scanned.
        #expect(outcome(report, "default/gone/gone-1") == .changed)
        #expect(outcome(report, "default/gone") == .changed)
        #expect(lines(report).allSatisfy { $0.hasSuffix("changed since scan, kept") })
        #expect(names(host, "/build/machines/default") == ["aside", "gone"])
        #expect(names(host, "/build/machines/default/aside") == ["gone-1"])
    }

    @Test("a lock file removed between its check and its unlink is skipped silently")
    func lockFileVanishes() async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            link   default/m/m -> m-1
            file   default/m/m-default.lock
            """)
        let report = await cleanup(host, after: { $0.operation == .status && $0.subject.hasSuffix("m-default.lock") }) {
            fs, root in
            let machine = try await fs.openDirectory("default", in: root)
            try await fs.withDirectory("m", in: machine) { m throws(FSError) in
                try await fs.unlink("m-default.lock", in: m)
            }
            await fs.close(machine)
        }
        #expect(lines(report) == [])
        #expect(outcome(report, "default/m/m-default.lock") == .vanished)
        #expect(report.exitStatus == 0)
    }

    @Test("a subvolume deleted between its identity check and the delete by id is skipped silently, and no sync follows")
    func subvolumeVanishes() async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            link   default/m/m -> m-1
            subvol default/m/m-default-1-1
            """)
        let recorder = EventRecorder()
        host.install(observer: recorder)
        let report = await cleanup(
            host, after: { $0.operation == .mountPoints && $0.subject.contains("m-default-1-1") }
        ) { fs, root in
            let machine = try await fs.openDirectory("default", in: root)
            try await fs.withDirectory("m", in: machine) { m throws(FSError) in
                try await fs.deleteSubvolume("m-default-1-1", in: m)
            }
            await fs.close(machine)
        }
        #expect(lines(report) == [])
        #expect(outcome(report, "default/m/m-default-1-1") == .vanished)
        #expect(report.syncedVolumes == [])
        #expect(names(host, machine) == ["m", "m-1"])
    }

    @Test("a machine directory removed right before the cleanup's rmdir is skipped silently")
    func machineDirectoryVanishes() async throws {
        let host = try makeHost(
            """
            subvol default/gone/gone-1 ro
            """)
        let report = await cleanupAfterEmptied(host) { fs, volume throws(FSError) in
            try await fs.removeDirectory("gone", in: volume)
        }
        #expect(lines(report) == ["/build/machines/default/gone/gone-1: info: deleted subvolume"])
        #expect(outcome(report, "default/gone") == .vanished)
        #expect(names(host, "/build/machines/default") == [])
    }

    @Test("a machine added by hand, its link made after the scan: what the link names, and the rest, stay")
    func linkMadeAfterTheScan() async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            subvol default/m/m-2 ro
            """)
        // The manual's add makes the link last: here right after the
        // cleanup deleted the first revision of what it took for a machine
        // being deleted.
        let report = await cleanup(host, after: { $0.operation == .deleteSubvolumeByID }) { fs, root in
            try await fs.withDirectory("default", in: root) { volume throws(FSError) in
                try await fs.withDirectory("m", in: volume) { machine throws(FSError) in
                    try await fs.createSymlink("m", in: machine, target: "m-2")
                }
            }
        }
        #expect(
            lines(report) == [
                "/build/machines/default/m/m-1: info: deleted subvolume",
                "/build/machines/default/m/m-2: warning: changed since scan, kept",
                "/build/machines/default/m: warning: changed since scan, kept",
            ], "\(lines(report))")
        #expect(names(host, "/build/machines/default/m") == ["m", "m-2"])
    }

    @Test("a machine found without its link whose link cannot be looked at again keeps what is left")
    func linkLookFails() async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            subvol default/m/m-2 ro
            """)
        // After the first deletion, the look for a link made meanwhile
        // fails: an error that is not ENOENT cannot tell the link absent.
        let deleted = Mutex(false)
        let report = await CleanupTests.cleanup(host) { call, _ in
            if call.operation == .deleteSubvolumeByID { deleted.withLock { $0 = true } }
            guard call.operation == .status, call.subject.hasSuffix("default/m/m"), deleted.withLock({ $0 }) else {
                return nil
            }
            return .ioError
        }
        #expect(
            lines(report) == [
                "/build/machines/default/m/m-1: info: deleted subvolume",
                "/build/machines/default/m/m-2: warning: changed since scan, kept",
                "/build/machines/default/m: warning: changed since scan, kept",
            ], "\(lines(report))")
        #expect(names(host, "/build/machines/default/m") == ["m-2"])
    }

    @Test("a machine directory that gains an entry before the rmdir is kept, with a warning")
    func machineDirectoryRefilled() async throws {
        let host = try makeHost(
            """
            subvol default/gone/gone-1 ro
            """)
        let report = await cleanupAfterEmptied(host) { fs, volume throws(FSError) in
            try await fs.withDirectory("gone", in: volume) { gone throws(FSError) in
                try await fs.createSubvolume("gone-2", in: gone)
            }
        }
        #expect(
            lines(report) == [
                "/build/machines/default/gone/gone-1: info: deleted subvolume",
                "/build/machines/default/gone: warning: changed since scan, kept",
            ])
        #expect(outcome(report, "default/gone") == .changed)
        #expect(names(host, "/build/machines/default/gone") == ["gone-2"])
        #expect(report.exitStatus == 0)
    }

    @Test("a machine before it that failed to lose an entry does not change what a refilled directory is")
    func refilledAfterAFailure() async throws {
        let host = try makeHost(
            """
            subvol default/a/a-1 ro
            mount  default/a/a-1/mnt
            subvol default/gone/gone-1 ro
            """)
        let report = await cleanupAfterEmptied(host) { fs, volume throws(FSError) in
            try await fs.withDirectory("gone", in: volume) { gone throws(FSError) in
                try await fs.createSubvolume("gone-2", in: gone)
            }
        }
        #expect(lines(report).contains("/build/machines/default/a: error: unable to delete machine directory: directory not empty (ENOTEMPTY)"))
        #expect(lines(report).contains("/build/machines/default/gone: warning: changed since scan, kept"), "\(lines(report))")
        #expect(outcome(report, "default/gone") == .changed)
    }

    @Test("one sync per volume that lost subvolumes, and no more")
    func syncs() async throws {
        let host = try makeHost(
            """
            subvol a/m/m-1 ro
            link   a/m/m -> m-1
            subvol a/m/m-default-1-1
            subvol a/m/m-default-2-1
            subvol a/n/n-1 ro
            link   a/n/n -> n-1
            subvol a/n/n-default-1-1
            subvol b/m/m-1 ro
            link   b/m/m -> m-1
            file   b/m/m-default.lock
            subvol c/m/m-1 ro
            link   c/m/m -> m-1
            subvol d/gone/gone-1 ro
            """)
        let recorder = EventRecorder()
        host.install(observer: recorder)
        let report = await ApplyRaceTestsSupport.run(host)
        let syncs = recorder.events.filter { $0.call.operation == .sync }.map(\.call.subject)
        #expect(syncs == ["/build/machines/a", "/build/machines/d"])
        #expect(report.syncedVolumes.map(\.rawValue) == ["a", "d"])
    }

    @Test("a root given with a trailing slash prints as the root without one", arguments: ["/build/machines/", "/build/machines//"])
    func trailingSlash(root: String) async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            link   default/m/m -> m-1
            subvol default/m/m-default-1-1
            """)
        let cleanup = CleanupRun(fileSystem: host.spawn(), root: root, toolchains: ToolchainSet([.default]))
        guard case .success(let plan) = await cleanup.plan() else { return #expect(Bool(false), "no plan") }
        #expect(plan.textLines.first == "plan for /build/machines (toolchains: default)")
        let report = await cleanup.run().report
        #expect(
            report.textLines == [
                "cleaned up entries in /build/machines/",
                "  /build/machines/default/m/m-default-1-1: info: deleted subvolume",
            ])
    }
}

enum ApplyRaceTestsSupport {
    static func run(_ host: SimulatedHost) async -> Report {
        await CleanupRun(fileSystem: host.spawn(), root: Layout.defaultRoot, toolchains: ToolchainSet([.default])).run()
            .report
    }
}
