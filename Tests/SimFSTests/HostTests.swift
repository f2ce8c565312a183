import FSProtocol
import MachineLayout
import SimFS
import Testing
import TestSupport

/// What the simulated host does beyond the kernel facts of the conformance
/// suite: processes, crashes, the gate and the observer.
@Suite("The simulated host")
struct HostTests {
    @Test("a killed process loses its locks; its calls fail at once")
    func kill() async throws {
        let host = try SimulatedHost(layout: Layout.parse("dir v/m"))
        let agent = host.spawn(Credentials(user: 0, group: 0))
        let directory = try await agent.openRoot("/build/machines/v/m")
        let lock = try await agent.openFile("m-default.lock", in: directory, options: [.create, .write])
        #expect(try await agent.tryLock(lock))
        host.kill(agent)
        #expect(!host.isAlive(agent))
        await #expect(throws: FSError(.badDescriptor, .list)) { try await agent.list(directory) }
        let other = host.spawn()
        let otherDirectory = try await other.openRoot("/build/machines/v/m")
        let otherLock = try await other.openFile("m-default.lock", in: otherDirectory, options: [.write])
        #expect(try await other.tryLock(otherLock))
    }

    @Test("every change to a tree counts, and no read does")
    func treeChanges() async throws {
        let host = try SimulatedHost(
            layout: Layout.parse("subvol v/m/m-1 ro\nlink v/m/m -> m-1\nsubvol v/m/m-default\nfile v/m/m-default.lock"))
        let fs = host.spawn(.root)
        let directory = try await fs.openRoot("/build/machines/v/m")
        var count = host.treeChanges
        func reading(_ body: () async throws -> Void) async throws {
            try await body()
            #expect(host.treeChanges == count)
        }
        func changing(_ body: () async throws -> Void) async throws {
            try await body()
            #expect(host.treeChanges > count)
            count = host.treeChanges
        }
        try await reading { _ = try await fs.list(directory) }
        try await reading { _ = try await fs.status(of: "m", in: directory) }
        try await reading { _ = try await fs.readLink("m", in: directory) }
        let revision = try await fs.openDirectory("m-1", in: directory)
        try await reading { _ = try await fs.subvolumeInfo(of: revision) }
        try await reading { _ = try await fs.nestedSubvolumes(of: revision) }
        let lock = try await fs.openFile("m-default.lock", in: directory, options: [.write])
        try await reading { _ = try await fs.tryLock(lock) }
        try await reading { _ = try await fs.isLockHeld(lock) }
        try await reading { _ = try await fs.readAll(lock) }
        await fs.close(lock)
        try await reading { try await fs.sync(directory) }
        #expect(host.treeChanges == count)

        try await changing { try await fs.createSubvolume("m-default-1-1", in: directory) }
        try await changing { try await fs.snapshot(revision, as: "m-gcc", in: directory, readOnly: false) }
        try await changing { try await fs.deleteSubvolume("m-gcc", in: directory) }
        try await changing { try await fs.setReadOnly(false, of: revision) }
        try await changing { try await fs.changeOwner(of: "m", in: directory, owner: 1, group: 1) }
        try await changing { try await fs.makeDirectory("d", in: directory) }
        try await changing { try await fs.removeDirectory("d", in: directory) }
        try await changing { try await fs.createSymlink("l", in: directory, target: "m-1") }
        try await changing { try await fs.rename("l", in: directory, to: "k", in: directory, mode: .replace) }
        try await changing { try await fs.unlink("k", in: directory) }
        try await changing {
            let file = try await fs.openFile("notes", in: directory, options: [.create, .write])
            try await fs.write([1], to: file)
            await fs.close(file)
        }
        try await changing { try await fs.deleteSubvolume("m-default-1-1", in: directory) }
        await fs.close(revision)
        try await changing { host.crash() }
    }

    @Test("a crash ends every process, empties tmpfs, drops runtime mounts and restarts pids")
    func crash() async throws {
        let host = try SimulatedHost(layout: Layout.parse("tmpfs /var/lock\nsubvol v/m/m-1\nmount v/m/m-1/mnt"))
        let first = host.spawn()
        let lockDirectory = try await first.openRoot("/var/lock")
        try await first.writeFile("bbot-agent-default.lock", in: lockDirectory, "")
        #expect(host.names(at: "/var/lock")?.count == 1)
        host.crash()
        #expect(!host.isAlive(first))
        #expect(host.names(at: "/var/lock") == [])
        #expect(host.entryKind(at: "/build/machines/v/m/m-1/mnt") == .directory)
        #expect(host.layout().entries.allSatisfy { $0.kind != .mount })
        #expect(host.spawn().processID == first.processID)
    }

    @Test("the periodic commit makes deletions durable")
    func periodicCommit() async throws {
        let host = try SimulatedHost(layout: Layout.parse("subvol v/a\nsubvol v/b"))
        let process = host.spawn()
        let volume = try await process.openRoot("/build/machines/v")
        try await process.deleteSubvolume("a", in: volume)
        host.commitAll()
        try await process.deleteSubvolume("b", in: volume)
        host.crash()
        #expect(host.names(at: "/build/machines/v") == ["b"])
    }

    @Test("the observer sees each call with its effects; the gate can inject a fault")
    func observerAndGate() async throws {
        let host = try SimulatedHost(layout: Layout.parse("subvol v/m/m-1\nsubvol v/m/m-default-1-1"))
        let recorder = EventRecorder()
        host.install(observer: recorder)
        final class FailDeletes: SimulationGate {
            func waitForTurn(of pid: Int32) async -> Bool { true }
            func decide(_ call: SimulatedCall) -> GateDecision {
                call.operation == .deleteSubvolume && call.subject.hasSuffix("m-1") ? .fail(.ioError) : .proceed
            }
        }
        host.install(gate: FailDeletes())
        let process = host.spawn()
        let directory = try await process.openRoot("/build/machines/v/m")
        await #expect(throws: FSError(.ioError, .deleteSubvolume, name: "m-1")) {
            try await process.deleteSubvolume("m-1", in: directory)
        }
        try await process.deleteSubvolume("m-default-1-1", in: directory)
        let deletes = recorder.events.filter { $0.call.operation == .deleteSubvolume }
        #expect(deletes.map(\.wasInjected) == [true, false])
        #expect(deletes.map(\.call.subject) == ["/build/machines/v/m/m-1", "/build/machines/v/m/m-default-1-1"])
        guard case .deletedSubvolume(let record) = deletes[1].effects.first else {
            Issue.record("no deletion effect: \(deletes[1].effects)")
            return
        }
        #expect(record.path == "/build/machines/v/m/m-default-1-1")
        #expect(host.names(at: "/build/machines/v/m") == ["m-1"])
    }

    @Test("a double close is reported to the observer (on a real host it can close another descriptor)")
    func doubleClose() async throws {
        let host = try SimulatedHost(layout: Layout.parse("dir v/m"))
        let recorder = EventRecorder()
        host.install(observer: recorder)
        let process = host.spawn()
        let directory = try await process.openRoot("/build/machines/v/m")
        await process.close(directory)
        await process.close(directory)
        let closes = recorder.events.filter { $0.call.operation == .close }
        #expect(closes.map { $0.error?.kind } == [nil, .badDescriptor])
    }

    @Test("two hosts built alike give the same ids, devices and UUIDs")
    func determinism() throws {
        let text = "subvol v/m/m-1 ro received\nsubvol v/m/m-2 snapshot-of=v/m/m-1"
        let one = try SimulatedHost(layout: Layout.parse(text))
        let two = try SimulatedHost(layout: Layout.parse(text))
        for path in ["/build/machines/v/m/m-1", "/build/machines/v/m/m-2"] {
            #expect(one.subvolumeInfo(at: path) == two.subvolumeInfo(at: path))
        }
        #expect(one.subvolumeInfo(at: "/build/machines/v/m/m-2")?.parentUUID == one.subvolumeInfo(at: "/build/machines/v/m/m-1")?.uuid)
    }

    @Test("a process holding a descriptor inside a subvolume uses it")
    func users() async throws {
        let host = try SimulatedHost(layout: Layout.parse("subvol v/m/m-1\nsubvol v/m/m-1/inner"))
        let vm = host.spawn()
        let inner = try await vm.openRoot("/build/machines/v/m/m-1/inner")
        let info = try #require(host.subvolumeInfo(at: "/build/machines/v/m/m-1"))
        let filesystem = try #require(host.filesystemIndex(at: "/build/machines/v/m/m-1"))
        #expect(host.processesUsing(filesystem: filesystem, subvolume: info.id) == [vm.processID])
        await vm.close(inner)
        #expect(host.processesUsing(filesystem: filesystem, subvolume: info.id) == [])
    }
}
