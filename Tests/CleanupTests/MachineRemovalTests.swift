import Cleanup
import FSProtocol
import MachineLayout
import SimFS
import Synchronization
import Testing
import TestSupport

/// A clock whose sleeps pass at once in virtual seconds, running what is
/// due on the way (an agent finishing its build).
final class SteppingClock: WaitingClock, Sendable {
    private let state = Mutex((now: 0.0, due: [(at: Double, action: @Sendable () async -> Void)]()))

    /// Runs `action` once virtual time reaches `time`.
    func at(_ time: Double, _ action: @escaping @Sendable () async -> Void) {
        state.withLock { $0.due.append((time, action)) }
    }

    func now() async -> Double { state.withLock { $0.now } }

    func sleep(seconds: Double) async throws {
        // A waiter that never gets past its wait ends with its test's time
        // limit, as a real sleep would.
        try Task.checkCancellation()
        let due = state.withLock { state -> [@Sendable () async -> Void] in
            state.now += seconds
            let now = state.now
            let ready = state.due.filter { $0.at <= now }.map(\.action)
            state.due.removeAll { $0.at <= now }
            return ready
        }
        for action in due { await action() }
    }
}

@Suite("machine remove")
struct MachineRemovalTests {
    static let machine = try! MachineAddress(parsing: "default/m")
    static let directory = "/build/machines/default/m"
    static let tree = """
        subvol default/m/m-1 ro
        subvol default/m/m-1.received ro received
        link   default/m/m -> m-1
        subvol default/m/m-default ro
        subvol default/m/m-default-500-1
        subvol default/m/m-default-500-1/nested
        file   default/m/m-default.lock owner=1000:1000
        subvol default/n/n-1 ro
        link   default/n/n -> n-1
        tmpfs  /run/lock
        """

    /// A machine with a stale working snapshot and no build.
    static let withoutBuilds = """
        subvol default/m/m-1 ro
        link   default/m/m -> m-1
        subvol default/m/m-default-7-1
        tmpfs  /run/lock
        """

    /// An agent that holds its machine lock and builds in its working
    /// snapshot until it is told to finish.
    struct Agent {
        let process: SimulatedProcess
        let directory: DirectoryHandle
        let lock: FileHandle

        static func start(on host: SimulatedHost) async throws -> Agent {
            let process = host.spawn(Credentials(user: 1000, group: 1000))
            let directory = try await process.openRoot(MachineRemovalTests.directory)
            let lock = try await process.openFile("m-default.lock", in: directory, options: [.write])
            #expect(try await process.tryLock(lock))
            return Agent(process: process, directory: directory, lock: lock)
        }

        /// Deletes its working snapshot (what it made inside it first) and
        /// releases its lock, as the agent does when its build ends.
        func finish(on host: SimulatedHost) async {
            let root = host.spawn()
            if let snapshot = try? await root.openRoot(MachineRemovalTests.directory + "/m-default-500-1") {
                try? await root.deleteSubvolume("nested", in: snapshot)
                await root.close(snapshot)
            }
            if let directory = try? await root.openRoot(MachineRemovalTests.directory) {
                try? await root.deleteSubvolume("m-default-500-1", in: directory)
                await root.close(directory)
            }
            await process.close(lock)
            await process.close(directory)
        }
    }

    @Test("remove takes the link first, waits for the build, then deletes everything and the directory")
    func removeWaits() async throws {
        let host = try makeHost(Self.tree)
        let agent = try await Agent.start(on: host)
        let clock = SteppingClock()
        clock.at(5) { await agent.finish(on: host) }
        let lines = Mutex([String]())
        let admin = Administration(
            fileSystem: host.spawn(), root: Layout.defaultRoot, clock: clock,
            progress: { line in lines.withLock { $0.append(line) } })
        let report = await admin.remove(Self.machine, timeout: 60)
        #expect(report.error == nil, "\(report.textLines)")
        #expect(names(host, "/build/machines/default") == ["n"])
        #expect(report.steps.map(\.action) == [.removeLink, .sync, .wait, .cleanMachine, .removeDirectory, .sync])
        let progress = lines.withLock { $0 }
        #expect(progress.first == "waiting for m-default-500-1, m-default.lock (held): 0 s")
        #expect(progress.count == 5)
    }

    @Test("a build that takes its lock after the wait, before the deletion, is waited for again; then the machine goes")
    func lockTakenAfterTheWait() async throws {
        let host = try makeHost(Self.tree)
        let process = host.spawn()
        // The cleanup's first attempt at the lock finds it taken (by a
        // build that read the link before it went, as far as it can tell).
        let taken = FailingGate(watching: process.processID) { call, _ in
            call.operation == .lock && call.subject.contains("m-default.lock") ? .wouldBlock : nil
        }
        let once = OnceGate(taken)
        host.install(gate: once)
        let admin = Administration(fileSystem: process, root: Layout.defaultRoot, clock: SteppingClock())
        let report = await admin.remove(Self.machine, timeout: 60)
        host.install(gate: nil)
        #expect(once.failures == 1)
        #expect(report.error == nil, "\(report.textLines)")
        #expect(names(host, "/build/machines/default") == ["n"])
        #expect(report.notes.contains { $0.hasPrefix("a build took its lock meanwhile") }, "\(report.notes)")
        #expect(report.steps.map(\.action) == [.removeLink, .sync, .wait, .cleanMachine, .removeDirectory, .sync])

        // Taken at every attempt: after its rounds, it stops with a line
        // that says why and how to finish, not "correct them".
        let again = try makeHost(Self.tree)
        let stubborn = again.spawn()
        again.install(gate: FailingGate(watching: stubborn.processID) { call, _ in
            call.operation == .lock && call.subject.contains("m-default.lock") ? .wouldBlock : nil
        })
        let busy = await Administration(fileSystem: stubborn, root: Layout.defaultRoot, clock: SteppingClock())
            .remove(Self.machine, timeout: 60)
        again.install(gate: nil)
        #expect(busy.error?.code == "locked", "\(busy.notes) \(busy.error?.message ?? "")")
        #expect(busy.exitStatus == 1)
        #expect(busy.steps.map(\.action) == [.removeLink, .sync, .wait, .cleanMachine])
        #expect(busy.error?.message.contains("run `machine remove` again to finish") == true)
        #expect(again.linkTarget(at: "\(Self.directory)/m") == nil)
    }

    @Test("a build that makes its lock file after the cleanup's scan: the directory stays a round, then goes")
    func lockFileMadeAfterTheScan() async throws {
        let host = try makeHost(Self.withoutBuilds)
        let process = host.spawn()
        let agent = host.spawn()
        let clock = SteppingClock()
        let gate = ScriptedGate(watching: process.processID)
        // Once the cleanup deletes the working snapshot (after its scan), a
        // build of another toolchain that read the link before it went
        // makes its lock file and takes it, for five seconds.
        gate.after({ $0.operation == .deleteSubvolumeByID }) {
            let directory = try await agent.openRoot(Self.directory)
            let lock = try await agent.openFile("m-other.lock", in: directory, options: [.write, .create])
            _ = try await agent.tryLock(lock)
            clock.at(5) {
                try? await agent.unlink("m-other.lock", in: directory)
                await agent.close(lock)
                await agent.close(directory)
            }
        }
        host.install(gate: gate)
        let report = await Administration(fileSystem: process, root: Layout.defaultRoot, clock: clock)
            .remove(Self.machine, timeout: 60)
        host.install(gate: nil)
        #expect(report.error == nil, "\(report.textLines)")
        #expect(report.notes.contains { $0.hasPrefix("entries appeared in \(Self.directory) meanwhile") }, "\(report.notes)")
        #expect(names(host, "/build/machines/default") == [])
    }

    @Test("remove waits again as often as builds take their locks after its wait, up to its rounds")
    func severalRounds() async throws {
        let host = try makeHost(Self.tree)
        let process = host.spawn()
        // Busy for the cleanup's first five attempts, then free.
        let attempts = Mutex(0)
        host.install(gate: FailingGate(watching: process.processID) { call, _ in
            guard call.operation == .lock, call.subject.contains("m-default.lock") else { return nil }
            return attempts.withLock { count in
                count += 1
                return count <= 5 ? .wouldBlock : nil
            }
        })
        let report = await Administration(fileSystem: process, root: Layout.defaultRoot, clock: SteppingClock())
            .remove(Self.machine, timeout: 60)
        host.install(gate: nil)
        #expect(report.error == nil, "\(report.textLines)")
        #expect(report.notes.filter { $0.hasPrefix("a build took its lock meanwhile") }.count == 5)
        #expect(names(host, "/build/machines/default") == ["n"])
    }

    @Test("what keeps a machine other than a build's lock is not waited for: one round, then 'correct them'")
    func noRoundsWithoutLocks() async throws {
        let host = try makeHost(Self.tree + "\nmount default/m/m-default-500-1/mnt")
        let report = await Administration(fileSystem: host.spawn(), root: Layout.defaultRoot, clock: SteppingClock())
            .remove(Self.machine, timeout: 60)
        #expect(report.exitStatus == 1)
        #expect(report.error?.message.contains("correct them") == true, "\(report.error?.message ?? "")")
        #expect(!report.notes.contains { $0.hasPrefix("a build took its lock meanwhile") }, "\(report.notes)")
        #expect(report.notes.filter { $0.contains("mount point inside") }.count == 1, "\(report.notes)")
        #expect(report.steps.map(\.action) == [.removeLink, .sync, .wait, .cleanMachine], "\(report.textLines)")
    }

    @Test("a remove that times out leaves the link removed and exits 124; the next one finishes")
    func removeTimesOut() async throws {
        let host = try makeHost(Self.tree)
        let agent = try await Agent.start(on: host)
        let admin = Administration(fileSystem: host.spawn(), root: Layout.defaultRoot, clock: SteppingClock())
        let first = await admin.remove(Self.machine, timeout: 3)
        #expect(first.exitStatus == 124)
        #expect(first.error?.code == "timed-out")
        // The step and the error name the --timeout given, not what was
        // left of it when the wait began (time passes between the two, as
        // on a host).
        let drifting = try makeHost(Self.tree)
        let held = try await Agent.start(on: drifting)
        let timedOut = await Administration(fileSystem: drifting.spawn(), root: Layout.defaultRoot, clock: DriftingClock())
            .remove(Self.machine, timeout: 3)
        #expect(timedOut.steps.last?.detail == "(up to 3 s)")
        #expect(timedOut.error?.message.hasPrefix("timed out after 3 s waiting for") == true, "\(timedOut.error?.message ?? "")")
        await held.finish(on: drifting)
        #expect(host.linkTarget(at: "\(Self.directory)/m") == nil)
        #expect(names(host, Self.directory)?.contains("m-1") == true)
        await agent.finish(on: host)
        let second = await admin.remove(Self.machine, timeout: 3)
        #expect(second.error == nil, "\(second.textLines)")
        #expect(names(host, "/build/machines/default") == ["n"])
    }

    @Test(
        "remove refuses an unknown machine and a machine whose link is not a link",
        arguments: ["dir    default/m/m", "file   default/m/m", "subvol default/m/m"])
    func refusals(notALink: String) async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            \(notALink)
            """)
        let before = host.layout()
        let admin = Administration(fileSystem: host.spawn(), root: Layout.defaultRoot, clock: SteppingClock())
        #expect(await admin.remove(try MachineAddress(parsing: "default/x"), timeout: 1).error?.code == "no-such-machine")
        #expect(await admin.remove(Self.machine, timeout: 1).error?.code == "link-in-error")
        #expect(host.layout() == before)
    }

    @Test("remove cleans its own machine only: another machine's stale entries and a machine without link stay")
    func ownMachineOnly() async throws {
        let host = try makeHost(
            Self.tree + "\n" + """
                subvol default/n/n-default
                subvol default/n/n-default-1-1
                file   default/n/n-default.lock
                subvol default/o/o-1 ro
                subvol other/p/p-1 ro
                """)
        let others = host.layout().entries.filter { !$0.path.hasPrefix("default/m") }
        let admin = Administration(fileSystem: host.spawn(), root: Layout.defaultRoot, clock: SteppingClock())
        let report = await admin.remove(Self.machine, timeout: 1)
        #expect(report.error == nil, "\(report.textLines)")
        #expect(names(host, Self.directory) == nil)
        #expect(host.layout().entries.filter { !$0.path.hasPrefix("default/m") } == others)
    }

    struct KeptCase: Sendable, CustomTestStringConvertible {
        var entries: String
        var message: String
        var testDescription: String { entries }
    }

    @Test(
        "a machine holding what its cleanup would keep is refused before anything goes, in a dry run too",
        arguments: [
            KeptCase(entries: "file default/m/notes", message: "holds what removing a machine does not delete: notes (unknown entry (regular file), kept)"),
            KeptCase(entries: "dir default/m/m-default-1-1", message: "m-default-1-1 (not a subvolume (plain directory), kept)"),
            KeptCase(entries: "link default/m/m-default.lock -> /tmp/x", message: "m-default.lock (symbolic link, kept, not followed)"),
            KeptCase(
                entries: "link default/m/m-latest -> m-1",
                message: "would be a layout the cleanup does not recognise (no current machine link, but the symbolic link m-latest -> m-1 names its subvolume m-1)"),
        ])
    func keptEntries(_ kept: KeptCase) async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            link   default/m/m -> m-1
            subvol default/m/m-default-1-2
            tmpfs  /run/lock
            \(kept.entries)
            """)
        let before = host.layout()
        let admin = Administration(fileSystem: host.spawn(), root: Layout.defaultRoot, clock: SteppingClock())
        for dryRun in [true, false] {
            let report = await admin.remove(Self.machine, timeout: 1, dryRun: dryRun)
            #expect(report.exitStatus == 64)
            #expect(report.error?.code == "not-removable")
            #expect(report.error?.message.contains(kept.message) == true, "\(report.error?.message ?? "")")
            #expect(report.steps.isEmpty)
        }
        #expect(host.layout() == before)
    }

    @Test("a temporary link and a stale lock file do not stop a removal")
    func removableEntries() async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            link   default/m/m -> m-1
            link   default/m/m.link-1-1 -> m-1
            file   default/m/m-default.lock
            tmpfs  /run/lock
            """)
        let admin = Administration(fileSystem: host.spawn(), root: Layout.defaultRoot, clock: SteppingClock())
        let report = await admin.remove(Self.machine, timeout: 1)
        #expect(report.exitStatus == 0, "\(report.textLines)")
        #expect(names(host, Self.directory) == nil)
    }

    /// A removal of a machine without builds whose `number`th sync (the
    /// link's, the cleanup's, the command's after the directory) fails.
    func removeFailingSync(_ number: Int) async throws -> (SimulatedHost, AdministrationReport) {
        let host = try makeHost(Self.withoutBuilds)
        let process = host.spawn()
        host.install(gate: FailingGate.failing(number, of: { $0.operation == .sync }, with: .ioError, watching: process.processID))
        let admin = Administration(fileSystem: process, root: Layout.defaultRoot, clock: SteppingClock())
        let report = await admin.remove(Self.machine, timeout: 1)
        host.install(gate: nil)
        return (host, report)
    }

    @Test("the cleanup's sync failing and the command's own sync after it working: done, a warning, no error line")
    func cleanupSyncFailsThenSynced() async throws {
        let (host, report) = try await removeFailingSync(2)
        #expect(report.exitStatus == 0, "\(report.textLines)")
        #expect(names(host, Self.directory) == nil)
        #expect(!report.textLines.contains { $0.contains(": error: ") }, "\(report.textLines)")
        #expect(
            report.notes.contains(
                "/build/machines/default: warning: unable to sync filesystem: input/output error (EIO); synced after "
                    + "the directory was removed"), "\(report.notes)")
    }

    @Test("the last sync failing, after the directory went: no promise that a rerun finishes, the sync to make instead")
    func lastSyncFails() async throws {
        let (host, report) = try await removeFailingSync(3)
        #expect(report.exitStatus == 1, "\(report.textLines)")
        #expect(names(host, Self.directory) == nil)
        let message = report.error?.message ?? ""
        #expect(!message.contains("running the command again"), "\(message)")
        #expect(message.contains("may not survive a crash"), "\(message)")
        #expect(message.contains("`sync -f /build/machines/default`"), "\(message)")
    }

    @Test("one change at a time: a second run waits for the lock, then gives up with 75")
    func lockBusy() async throws {
        let host = try makeHost(Self.tree)
        let holder = host.spawn()
        let clock = SteppingClock()
        guard case .success(let lock) = await ToolLock.take(
            for: Layout.defaultRoot, in: "/run/lock", on: holder, wait: 0, clock: clock)
        else {
            Issue.record("the first run cannot take the lock")
            return
        }
        let admin = Administration(fileSystem: host.spawn(), root: Layout.defaultRoot, clock: clock, lockWait: 2)
        let report = await admin.remove(Self.machine, timeout: 1)
        #expect(report.exitStatus == 75)
        #expect(report.error?.message.contains("another buildos-clean run holds the lock") == true)
        #expect(host.linkTarget(at: "\(Self.directory)/m") == "m-1")
        // Released meanwhile, it is taken.
        clock.at(4) { await lock.release() }
        let waited = Administration(fileSystem: host.spawn(), root: Layout.defaultRoot, clock: clock, lockWait: 10)
        let dryRun = await waited.remove(Self.machine, timeout: 1, dryRun: true)
        #expect(dryRun.error == nil)
        let done = await waited.upgrade(
            Self.machine, stream: try SendStream(prefix: SendStream.empty(.init(version: 1, name: "m-2", uuid: .init(high: 1, low: 2), transactionID: 1))),
            owner: Ownership(user: 1000, group: 1000))
        #expect(done.error == nil, "\(done.textLines)")
    }

    @Test(
        "the tool lock: its file for /build/machines and for other roots, in /run without /run/lock; --wait's bounds",
        .timeLimit(.minutes(1)))
    func toolLockFile() async throws {
        #expect(ToolLock.fileName(for: "/build/machines") == "buildos-clean.lock")
        #expect(ToolLock.fileName(for: "/build/machines//") == "buildos-clean.lock")
        let other = ToolLock.fileName(for: "/srv/machines").rawValue
        #expect(other.hasPrefix("buildos-clean-") && other.hasSuffix(".lock") && other.utf8.count == 14 + 16 + 5, "\(other)")
        #expect(ToolLock.fileName(for: "/srv/other") != ToolLock.fileName(for: "/srv/machines"))
        // On a host, by the directory, however the path is spelt.
        let spelt = try makeHost("volume default\ndir /srv/machines\ndir /srv/other\n")
        try spelt.addSymlink("/srv/standard", target: "/build/machines")
        try spelt.addSymlink("/srv/link", target: "machines")
        let fs = spelt.spawn()
        #expect(await ToolLock.fileName(for: "/build/machines", on: fs) == "buildos-clean.lock")
        #expect(await ToolLock.fileName(for: "/build//machines/", on: fs) == "buildos-clean.lock")
        #expect(await ToolLock.fileName(for: "/srv/standard", on: fs) == "buildos-clean.lock")
        let srv = await ToolLock.fileName(for: "/srv/machines", on: fs)
        #expect(srv != "buildos-clean.lock")
        #expect(await ToolLock.fileName(for: "/srv//machines", on: fs) == srv)
        #expect(await ToolLock.fileName(for: "/srv/link", on: fs) == srv)
        #expect(await ToolLock.fileName(for: "/srv/other", on: fs) != srv)
        // Two filesystems' roots have the same inode number (256 for a
        // btrfs): the device tells them apart.
        let twins = try makeHost("volume /srv/a\nvolume /srv/b\n")
        let twin = twins.spawn()
        #expect(await ToolLock.fileName(for: "/srv/a", on: twin) != ToolLock.fileName(for: "/srv/b", on: twin))
        // A root that cannot be opened: by its text.
        #expect(await ToolLock.fileName(for: "/srv/nothing", on: fs) == ToolLock.fileName(for: "/srv/nothing"))
        // --wait 0 (the boot's) does not wait: busy at once. Longer, it
        // waits that long and no more.
        let busy = try makeHost("tmpfs /run/lock")
        let clock = SteppingClock()
        guard case .success(let held) = await ToolLock.take(for: Layout.defaultRoot, on: busy.spawn(), wait: 0, clock: clock)
        else {
            Issue.record("the first run cannot take the lock")
            return
        }
        for wait in [0.0, 2.5] {
            let start = await clock.now()
            let result = await ToolLock.take(for: Layout.defaultRoot, on: busy.spawn(), wait: wait, clock: clock)
            guard case .failure(.busy(let waited)) = result else {
                Issue.record("--wait \(wait): \(result)")
                continue
            }
            let elapsed = await clock.now() - start
            #expect(abs(waited - wait) < 1e-9 && abs(elapsed - wait) < 1e-9, "--wait \(wait): \(waited)")
        }
        await held.release()
        for (layout, directory) in [("tmpfs /run", "/run"), ("tmpfs /run/lock", "/run/lock")] {
            let host = try makeHost(layout)
            guard case .success(let lock) = await ToolLock.take(
                for: Layout.defaultRoot, on: host.spawn(), wait: 0, clock: SteppingClock())
            else {
                Issue.record("no lock with \(layout)")
                continue
            }
            #expect(host.entryKind(at: directory + "/buildos-clean.lock") == .file)
            await lock.release()
        }
    }

    @Test("list: a working snapshot's pid is the digits before its counter, or none", arguments: [
        ("500-1", Int32?.some(500)), ("77-3-x", 77), ("-1", nil), ("+1-1", nil), ("1", nil), ("x-1", nil), ("0x1-1", nil),
        ("99999999999-1", nil),
    ])
    func agentPID(suffix: String, pid: Int32?) {
        #expect(MachineListing.agentPID(in: suffix) == pid)
    }

    @Test("list: a writable subvolume under a revision's name is no revision, only a problem")
    func listWritableRevision() async throws {
        let host = try makeHost(Self.tree + "\nsubvol default/m/m-9")
        let listing = try await MachineListing.list(
            fileSystem: host.spawn(), root: Layout.defaultRoot, toolchains: ToolchainSet([.default]))
        let m = try #require(listing.machines.first { $0.name == "m" })
        #expect(m.revisions == ["m-1"])
        #expect(m.problems.contains { $0.hasPrefix("\(Self.directory)/m-9: warning: revision is not read-only") }, "\(m.problems)")
    }

    @Test("list shows each machine: revisions, images, bootstrapped, working snapshots with their agent, locks, problems")
    func list() async throws {
        let host = try makeHost(Self.tree + "\nfile default/m/notes")
        let agent = try await Agent.start(on: host)
        let listing = try await MachineListing.list(
            fileSystem: host.spawn(), root: Layout.defaultRoot, toolchains: ToolchainSet([.default]))
        let m = try #require(listing.machines.first { $0.name == "m" })
        #expect(m.current == "m-1")
        #expect(m.revisions == ["m-1"])
        #expect(m.receivedImages == ["m-1.received"])
        #expect(m.bootstrapped.map { "\($0.name) \($0.toolchain) \($0.current)" } == ["m-default default false"])
        #expect(
            m.workingSnapshots.map { "\($0.name) \($0.toolchain) \($0.pid ?? -1) \($0.running)" }
                == ["m-default-500-1 default 500 false"])
        #expect(m.locks.map { "\($0.name) \($0.toolchain) \($0.held)" } == ["m-default.lock default true"])
        #expect(m.problems == ["\(Self.directory)/notes: warning: unknown entry (regular file), kept"])
        #expect(listing.machines.map(\.name) == ["m", "n"])
        #expect(listing.textLines.first == "default/m: current m-1")
        #expect(listing.json.contains("\"receivedImages\""))
        await agent.finish(on: host)
    }
}

/// Passes the first failure its gate decides, then lets every call run.
final class OnceGate: SimulationGate, Sendable {
    private let inner: FailingGate
    private let state = Mutex(0)

    init(_ inner: FailingGate) { self.inner = inner }

    var failures: Int { state.withLock { $0 } }

    func waitForTurn(of pid: Int32) async -> Bool { true }

    func decide(_ call: SimulatedCall) -> GateDecision {
        guard state.withLock({ $0 }) == 0 else { return .proceed }
        let decision = inner.decide(call)
        if case .fail = decision { state.withLock { $0 += 1 } }
        return decision
    }
}

/// A clock on which every reading is a millisecond later than the one
/// before, and sleeps pass at once: time goes by between two looks, as
/// on a host.
final class DriftingClock: WaitingClock, Sendable {
    private let state = Mutex(0.0)

    func now() async -> Double { state.withLock { $0 += 0.001; return $0 } }

    func sleep(seconds: Double) async throws { state.withLock { $0 += seconds } }
}
