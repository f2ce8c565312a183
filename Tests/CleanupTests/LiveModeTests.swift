import Cleanup
import FSProtocol
import MachineLayout
import SimFS
import Synchronization
import Testing
import TestSupport

/// Live mode: beside running agents, an agent's entries go only while the
/// cleanup holds that agent's machine lock.
@Suite("Live mode")
struct LiveModeTests {
    static let build = Credentials(user: 1000, group: 1000)

    /// An agent process holding the machine lock of `toolchain` on `m`.
    func agentHoldingLock(_ host: SimulatedHost, _ toolchain: Toolchain, machine: String = machine) async throws
        -> (SimulatedProcess, MachineLock)
    {
        let agent = host.spawn(Self.build)
        let directory = try await agent.openRoot(machine)
        let name = try #require(EntryName(String(machine.split(separator: "/").last!)))
        let lock = try #require(try await MachineLock.take(toolchain, machine: name, in: directory, on: agent))
        return (agent, lock)
    }

    func liveCleanup(_ host: SimulatedHost) async -> Report {
        await CleanupRun(
            fileSystem: host.spawn(.root), root: "/build/machines", toolchains: ToolchainSet([.default]), mode: .live
        ).run().report
    }

    @Test("a lock whose file name would pass 255 bytes cannot exist, nobody holds it: live mode goes ahead without it")
    func lockNameTooLongForAnyone() async throws {
        // 247 bytes: `m-old` is 251, its lock `m-old.lock` 256; the
        // configured toolchain's `m-default.lock` 260.
        let long = String(repeating: "l", count: 247)
        let gone = String(repeating: "k", count: 247)
        let host = try makeHost(
            """
            subvol default/\(long)/\(long)-1 ro
            link   default/\(long)/\(long) -> \(long)-1
            subvol default/\(long)/\(long)-old
            subvol default/\(gone)/\(gone)-2 ro
            """)
        // Neither an agent nor the cleanup can make those lock files.
        let agent = host.spawn(Self.build)
        let directory = try await agent.openRoot("/build/machines/default/" + long)
        await #expect(throws: FSError(.other(errno: 36), .openFile, name: EntryName(long + "-old.lock"))) {
            _ = try await MachineLock.take(Toolchain(rawValue: "old")!, machine: EntryName(long)!, in: directory, on: agent)
        }
        await agent.close(directory)
        let report = await liveCleanup(host)
        #expect(report.diagnostics.allSatisfy { $0.level == .info }, "\(lines(report))")
        #expect(host.entryKind(at: "/build/machines/default/\(long)/\(long)-old") == nil)
        #expect(host.entryKind(at: "/build/machines/default/\(long)/\(long)-1") == .subvolume)
        // A deleted machine needs every lock: the configured toolchain's
        // cannot exist either.
        #expect(host.entryKind(at: "/build/machines/default/\(gone)") == nil)
    }

    @Test("a lock file name of exactly 255 bytes is a lock like any other: held, its toolchain's entries stay")
    func lockNameOfTheLongestLength() async throws {
        // 246 bytes: `m-old.lock` is 255.
        let long = String(repeating: "l", count: 246)
        let path = "/build/machines/default/" + long
        let host = try makeHost(
            """
            dir    default/\(long) owner=1000:1000
            subvol default/\(long)/\(long)-1 ro
            link   default/\(long)/\(long) -> \(long)-1
            subvol default/\(long)/\(long)-old
            """)
        let (agent, lock) = try await agentHoldingLock(host, Toolchain(rawValue: "old")!, machine: path)
        #expect(host.entryKind(at: "\(path)/\(long)-old.lock") == .file)
        let report = await liveCleanup(host)
        #expect(host.entryKind(at: "\(path)/\(long)-old") == .subvolume, "\(lines(report))")
        #expect(report.decisions.contains { $0.outcome == .locked(Toolchain(rawValue: "old")) }, "\(lines(report))")
        let directory = try await agent.openRoot(path)
        await lock.release(in: directory, on: agent)
        await agent.close(directory)
        _ = await liveCleanup(host)
        #expect(host.entryKind(at: "\(path)/\(long)-old") == nil)
    }

    @Test("a FIFO under a lock's name is no lock: its toolchain's entries stay, the FIFO too, with an error")
    func fifoUnderALocksName() async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            link   default/m/m -> m-1
            subvol default/m/m-default
            subvol default/m/m-default-7-1
            fifo   default/m/m-default.lock
            """)
        let report = await liveCleanup(host)
        #expect(
            lines(report).contains(
                "\(machine)/m-default.lock: error: unable to take machine lock: invalid argument (EINVAL)"),
            "\(lines(report))")
        #expect(host.entryKind(at: machine + "/m-default-7-1") == .subvolume)
        #expect(host.entryKind(at: machine + "/m-default.lock") == .other)
    }

    @Test("a lock file the live cleanup creates is the directory owner's from the start: killed at any call, none is root's")
    func createdLockOwnedWhateverTheKill() async throws {
        let layout = """
            volume default owner=1000:1000
            dir    default/m owner=1000:1000
            subvol default/m/m-1 ro owner=1000:1000
            link   default/m/m -> m-1
            subvol default/m/m-default-7-1 owner=1000:1000
            """
        var index = 0
        var sawLock = false
        while index < 200 {
            let host = try makeHost(layout)
            let cleaner = host.spawn(.root)
            let gate = StoppingGate(stopping: cleaner, before: index, by: .kill)
            host.install(gate: gate)
            _ = await CleanupRun(
                fileSystem: cleaner, root: "/build/machines", toolchains: ToolchainSet([.default]), mode: .live
            ).run()
            host.install(gate: nil)
            if let lock = host.layout().entries.first(where: { $0.path == "default/m/m-default.lock" }) {
                sawLock = true
                #expect(lock.owner == 1000 && lock.group == 1000, "killed before call \(index): \(lock)")
            }
            guard gate.stopped else { break }
            index += 1
        }
        #expect(sawLock && index > 5)
    }

    @Test("a busy lock keeps its toolchain's entries; a free one is taken, and its entries go")
    func busyAndFreeLocks() async throws {
        let host = try makeHost(
            """
            volume default owner=1000:1000
            dir    default/m owner=1000:1000
            subvol default/m/m-1 ro owner=1000:1000
            link   default/m/m -> m-1
            subvol default/m/m-default owner=1000:1000
            subvol default/m/m-default-7-1 owner=1000:1000
            subvol default/m/m-gcc owner=1000:1000
            subvol default/m/m-gcc-8-1 owner=1000:1000
            file   default/m/m-gcc.lock owner=1000:1000
            """)
        let (_, lock) = try await agentHoldingLock(host, .default)
        let report = await liveCleanup(host)
        #expect(
            lines(report) == [
                "\(machine)/m-gcc: info: deleted subvolume",
                "\(machine)/m-gcc-8-1: info: deleted subvolume",
                "\(machine)/m-gcc.lock: info: removed stale lock file",
            ])
        #expect(names(host, machine) == ["m", "m-1", "m-default", "m-default-7-1", "m-default.lock"])
        let kept = report.decisions.first { $0.item.path.entry == "m-default-7-1" }
        #expect(kept?.outcome == .locked(.default))
        // The busy lock's own file names its toolchain too, not "some lock".
        #expect(report.decisions.first { $0.item.path.entry == "m-default.lock" }?.outcome == .locked(.default))
        #expect(ReportDocument(report).decisions.first { $0.entry == "m-default.lock" }?.lockedBy == "default")
        #expect(report.mode == .live)
        _ = lock
    }

    /// Plans a live cleanup of the machine being deleted `default/gone`,
    /// lets a build of the default toolchain take its lock (after the
    /// scan), then carries the plan out. The lock is held until the caller
    /// lets go of it.
    func liveRunWithLockTakenAfterScan(_ layout: String) async throws -> (SimulatedHost, Report, MachineLock) {
        let host = try makeHost(layout)
        let cleaner = host.spawn(.root)
        let run = CleanupRun(
            fileSystem: cleaner, root: "/build/machines", toolchains: ToolchainSet([.default]), mode: .live)
        let plan = try await run.plan().get()
        let (_, lock) = try await agentHoldingLock(host, .default, machine: "/build/machines/default/gone")
        return (host, await Applier(fileSystem: cleaner, mode: .live).apply(plan), lock)
    }

    @Test("a machine being deleted waits for a configured toolchain's build that took its lock after the scan")
    func configuredToolchainLockTakenAfterScan() async throws {
        // No entry of the configured toolchain shows in the directory at
        // the scan; a build starts right after it and takes the lock: the
        // revision it is about to snapshot stays.
        let (host, report, lock) = try await liveRunWithLockTakenAfterScan(
            """
            volume default owner=1000:1000
            dir    default/gone owner=1000:1000
            subvol default/gone/gone-1 ro owner=1000:1000
            """)
        #expect(names(host, "/build/machines/default/gone") == ["gone-1", "gone-default.lock"])
        #expect(report.decisions.first { $0.item.path.entry == "gone-1" }?.outcome == .locked(nil))
        // Kept for some lock of the machine: `*` in the document.
        #expect(ReportDocument(report).decisions.first { $0.entry == "gone-1" }?.lockedBy == "*")
        #expect(lines(report).isEmpty)
        _ = lock
    }

    @Test("the directory of a machine being deleted needs every lock: a build's lock taken after the scan keeps it, quietly")
    func emptiedDirectoryNeedsEveryLock() async throws {
        let (host, report, lock) = try await liveRunWithLockTakenAfterScan(
            """
            volume default owner=1000:1000
            dir    default/gone owner=1000:1000
            subvol default/gone/gone-gcc-1-1 owner=1000:1000
            """)
        // The stray of the other toolchain goes under its own lock; the
        // directory waits for the build, with no line to alarm anyone.
        #expect(names(host, "/build/machines/default/gone") == ["gone-default.lock"])
        #expect(report.decisions.first { $0.item.path.entry == nil && $0.item.path.machine == "gone" }?.outcome == .locked(nil))
        #expect(lines(report) == ["/build/machines/default/gone/gone-gcc-1-1: info: deleted subvolume"])
        _ = lock
    }

    @Test("a lock that fails (not busy: a directory in its place) keeps its entries with an error line")
    func failingLock() async throws {
        let host = try makeHost(
            """
            volume default owner=1000:1000
            dir    default/m owner=1000:1000
            subvol default/m/m-1 ro owner=1000:1000
            link   default/m/m -> m-1
            subvol default/m/m-default-7-1 owner=1000:1000
            dir    default/m/m-default.lock owner=1000:1000
            subvol default/m/m-gcc-8-1 owner=1000:1000
            """)
        let report = await liveCleanup(host)
        #expect(
            lines(report) == [
                "\(machine)/m-default.lock: error: unable to take machine lock: is a directory (EISDIR)",
                "\(machine)/m-default.lock: warning: unknown entry (plain directory), kept",
                "\(machine)/m-gcc-8-1: info: deleted subvolume",
            ])
        #expect(names(host, machine) == ["m", "m-1", "m-default-7-1", "m-default.lock"])
        let kept = report.decisions.first { $0.item.path.entry == "m-default-7-1" }
        #expect(kept?.outcome == .locked(.default))
        #expect(report.exitStatus == 1)
    }

    @Test("a deleted machine waits for its builds: kept while a lock is busy, gone once it is free")
    func deletedMachineWaits() async throws {
        let host = try makeHost(
            """
            volume default owner=1000:1000
            dir    default/m owner=1000:1000
            subvol default/m/m-1 ro owner=1000:1000
            subvol default/m/m-default owner=1000:1000
            subvol default/m/m-default-7-1 owner=1000:1000
            subvol default/m/m-gcc-3-3 owner=1000:1000
            """)
        let (agent, lock) = try await agentHoldingLock(host, .default)
        let first = await liveCleanup(host)
        #expect(lines(first) == ["\(machine)/m-gcc-3-3: info: deleted subvolume"])
        #expect(names(host, machine) == ["m-1", "m-default", "m-default-7-1", "m-default.lock"])
        #expect(first.exitStatus == 0)
        let directory = try await agent.openRoot(machine)
        try await agent.deleteSubvolume("m-default-7-1", in: directory)
        await lock.release(in: directory, on: agent)
        let second = await liveCleanup(host)
        #expect(
            lines(second) == [
                "\(machine)/m-1: info: deleted subvolume",
                "\(machine)/m-default: info: deleted subvolume",
                "\(machine): info: deleted machine directory",
            ])
        #expect(names(host, "/build/machines/default") == [])
    }

    @Test("a lock file the live cleanup creates belongs to the machine directory's owner, and goes on release")
    func lockOwnership() async throws {
        let host = try makeHost("volume default owner=1000:1000\ndir default/m owner=1000:1000\n")
        let root = host.spawn(.root)
        let directory = try await root.openRoot(machine)
        let lock = try #require(
            try await MachineLock.take(.default, machine: "m", in: directory, on: root, owner: (1000, 1000)))
        #expect(try await root.status(of: "m-default.lock", in: directory).owner == 1000)
        let agent = host.spawn(Self.build)
        let agentDirectory = try await agent.openRoot(machine)
        #expect(try await MachineLock.take(.default, machine: "m", in: agentDirectory, on: agent) == nil)
        await lock.release(in: directory, on: root)
        #expect(names(host, machine) == [])
        #expect(try await MachineLock.take(.default, machine: "m", in: agentDirectory, on: agent) != nil)
    }

    @Test("a taker whose lock file was unlinked by a releaser before its flock tries again")
    func inodeRecheck() async throws {
        let host = try makeHost("dir default/m\n")
        let holder = host.spawn(.root)
        let holderDirectory = try await holder.openRoot(machine)
        let held = try #require(try await MachineLock.take(.default, machine: "m", in: holderDirectory, on: holder))
        let taker = host.spawn(.root)
        let gate = ScriptedGate(watching: taker.processID)
        // The holder releases right after the taker opened the old file.
        gate.after({ $0.operation == .openFile }) { await held.release(in: holderDirectory, on: holder) }
        host.install(gate: gate)
        let directory = try await taker.openRoot(machine)
        let lock = try #require(try await MachineLock.take(.default, machine: "m", in: directory, on: taker))
        host.install(gate: nil)
        #expect(try await taker.status(of: lock.file).identity == taker.status(of: "m-default.lock", in: directory).identity)
        #expect(gate.calls.filter { $0.operation == .openFile }.count == 2)
    }

    @Test("a lock released and taken by a third process between the open and the flock is busy, not held twice")
    func inodeRecheckNewHolder() async throws {
        let host = try makeHost("dir default/m\n")
        let holder = host.spawn(.root)
        let holderDirectory = try await holder.openRoot(machine)
        let held = try #require(try await MachineLock.take(.default, machine: "m", in: holderDirectory, on: holder))
        let third = host.spawn(.root)
        let thirdDirectory = try await third.openRoot(machine)
        let taker = host.spawn(.root)
        let gate = ScriptedGate(watching: taker.processID)
        // Right after the taker opened the old file: the holder releases
        // (unlinks it), and a third process takes the lock in a new file.
        let taken = Mutex<MachineLock?>(nil)
        gate.after({ $0.operation == .openFile }) {
            await held.release(in: holderDirectory, on: holder)
            let lock = try? await MachineLock.take(.default, machine: "m", in: thirdDirectory, on: third)
            taken.withLock { $0 = lock }
        }
        host.install(gate: gate)
        let directory = try await taker.openRoot(machine)
        let lock = try await MachineLock.take(.default, machine: "m", in: directory, on: taker)
        host.install(gate: nil)
        #expect(taken.withLock { $0 } != nil)
        // The old file flocked is no lock any more; the new one is held.
        #expect(lock == nil)
    }
}

extension Outcome {
    static func locked(_ toolchain: Toolchain) -> Outcome { .locked(.some(toolchain)) }
}
