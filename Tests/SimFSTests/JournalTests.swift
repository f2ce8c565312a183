import FSProtocol
import MachineLayout
import SimFS
import Testing
import TestSupport

/// A crash undoes the journal of changes since the last commit: every
/// kind of change must come back exactly, and what is allocated after the
/// crash must be what would have been allocated right after the commit.
@Suite("The commit journal")
struct JournalTests {
    static let layout = """
        subvol v/m/m-1 ro received
        link   v/m/m -> m-1
        subvol v/m/m-default snapshot-of=v/m/m-1
        subvol v/m/m-default/inner
        dir    v/m/m-default/work
        file   v/m/m-default/work/log owner=1000:1000
        dir    v/m/d
        dir    v/m/d/e
        subvol v/m/m-default-1-1
        file   v/m/m-default.lock
        """

    /// Everything a layout does not show: ids, UUIDs, read-only flags,
    /// identities and file contents.
    func details(_ host: SimulatedHost) async throws -> [String] {
        var lines: [String] = []
        for entry in host.layout().entries {
            let path = "/build/machines/" + entry.path
            if let info = host.subvolumeInfo(at: path) { lines.append("\(path) \(info)") }
        }
        let process = host.spawn()
        let work = try await process.openRoot("/build/machines/v/m/m-default/work")
        let log = try await process.openFile("log", in: work, options: [])
        lines.append(String(decoding: try await process.readAll(log), as: UTF8.self))
        lines.append("\(try await process.status(of: log))")
        await process.close(log)
        await process.close(work)
        host.kill(process)
        return lines
    }

    @Test("a crash brings back the last commit exactly, and allocates as right after it")
    func rollBack() async throws {
        let host = try SimulatedHost(layout: Layout.parse(Self.layout))
        let process = host.spawn()
        let machine = try await process.openRoot("/build/machines/v/m")
        let work = try await process.openRoot("/build/machines/v/m/m-default/work")
        try await process.writeFile("log", in: work, "committed")
        try await process.sync(machine)
        let committed = host.layout()
        let committedDetails = try await details(host)
        let twin = SimulatedHost(copying: host)

        // Every kind of change, none committed (not the read-only flag:
        // setting it commits, as snapshots and received UUIDs do).
        try await process.writeFile("log", in: work, " and more")
        try await process.createSubvolume("m-default-2-1", in: machine)
        try await process.makeDirectory("new", in: work)
        try await process.createSymlink("m-latest", in: machine, target: "m-1")
        try await process.rename("d", in: machine, to: "f", in: machine, mode: .noReplace)
        try await process.rename("m-default-1-1", in: machine, to: "moved", in: work, mode: .noReplace)
        try await process.changeOwner(of: "log", in: work, owner: 7, group: 7)
        try await process.deleteSubvolume("inner", in: try await process.openDirectory("m-default", in: machine))
        try await process.unlink("m-default.lock", in: machine)
        try await process.deleteSubvolume("m-default-2-1", in: machine)
        #expect(host.layout() != committed)

        host.crash()
        #expect(host.layout() == committed)
        #expect(try await details(host) == committedDetails)

        // The same subvolume ids and inodes come next (devices and UUIDs
        // are the host's counters: a crash does not turn them back).
        var next: [String] = []
        for twinOrHost in [host, twin] {
            let process = twinOrHost.spawn()
            let directory = try await process.openRoot("/build/machines/v/m")
            try await process.createSubvolume("m-default-3-1", in: directory)
            try await process.writeFile("m-default.lock2", in: directory, "")
            let status = try await process.status(of: "m-default.lock2", in: directory)
            let info = twinOrHost.subvolumeInfo(at: "/build/machines/v/m/m-default-3-1")
            next.append("\(info?.id.rawValue ?? 0) \(status.identity.inode)")
        }
        #expect(next[0] == next[1])
        #expect(host.layout() == twin.layout())
    }

    @Test("a setup call seals what happened before it; a second crash changes nothing more")
    func setupSealsAndCrashesRepeat() async throws {
        let host = try SimulatedHost(layout: Layout.parse("subvol v/a\nsubvol v/b\nsubvol v/c"))
        let process = host.spawn()
        let volume = try await process.openRoot("/build/machines/v")
        try await process.deleteSubvolume("a", in: volume)
        try host.addSubvolume("/build/machines/v/d")
        try await process.deleteSubvolume("b", in: volume)
        try await process.createSubvolume("e", in: volume)
        host.crash()
        #expect(host.names(at: "/build/machines/v") == ["b", "c", "d"])
        let again = host.spawn()
        let volumeAgain = try await again.openRoot("/build/machines/v")
        try await again.deleteSubvolume("c", in: volumeAgain)
        host.crash()
        host.crash()
        #expect(host.names(at: "/build/machines/v") == ["b", "c", "d"])
    }

    @Test("a mount point moves with the subvolume holding it, and goes with its delete")
    func mountMovedByRename() async throws {
        let host = try SimulatedHost(layout: Layout.parse("subvol v/m/m-x\nmount v/m/m-x/mnt\ndir v/n"))
        let process = host.spawn()
        let m = try await process.openRoot("/build/machines/v/m")
        let n = try await process.openRoot("/build/machines/v/n")
        #expect(try await process.mountPoints(inside: m) == ["/build/machines/v/m/m-x/mnt"])
        #expect(try await process.mountPoints(inside: n) == [])
        try await process.rename("m-x", in: m, to: "m-x", in: n, mode: .noReplace)
        #expect(try await process.mountPoints(inside: m) == [])
        #expect(try await process.mountPoints(inside: n) == ["/build/machines/v/n/m-x/mnt"])
        try await process.deleteSubvolume("m-x", in: n)
        #expect(try await process.mountPoints(inside: n) == [])
        #expect(host.layout().entries.allSatisfy { $0.kind != .mount })
    }
}
