import Cleanup
import FSProtocol
import MachineLayout
import SimFS
import Synchronization
import Testing
import TestSupport

/// A read-only subvolume that is being deleted and holds nested
/// subvolumes: its flag is cleared right before its nested subvolumes go,
/// and only then (SPEC §3, the one exception to never touching the flag).
@Suite("Deleting read-only subvolumes that hold nested ones")
struct NestedDeletionTests {
    static let tree = """
        subvol default/m/m-1 ro
        link   default/m/m -> m-1
        subvol default/m/m-default ro
        subvol default/m/m-default-1-1 ro received
        subvol default/m/m-default-1-1/inner
        dir    default/m/m-default-1-1/plain
        subvol default/m/m-default-1-1/plain/deep ro
        subvol default/m/m-default-1-1/plain/deep/deeper
        subvol default/m/m-default-2-1 ro
        """

    @Test("root deletes them whole, nested ones deepest first, and exits 0")
    func deletedWhole() async throws {
        let host = try makeHost(Self.tree)
        let recorder = EventRecorder()
        host.install(observer: recorder)
        let report = await cleanup(host)
        #expect(
            lines(report) == [
                "\(machine)/m-default-1-1/inner: info: deleted nested subvolume",
                "\(machine)/m-default-1-1/plain/deep/deeper: info: deleted nested subvolume",
                "\(machine)/m-default-1-1/plain/deep: info: deleted nested subvolume",
                "\(machine)/m-default-1-1: info: deleted subvolume",
                "\(machine)/m-default-2-1: info: deleted subvolume",
            ])
        #expect(report.exitStatus == 0)
        #expect(names(host, machine) == ["m", "m-1", "m-default"])
        // Flags changed: the two read-only subvolumes that held nested
        // ones, each once, to writable; nothing kept.
        let flips = recorder.effects.compactMap { effect -> String? in
            guard case .setReadOnly(let record, let readOnly) = effect else { return nil }
            return "\(record.path) \(readOnly)"
        }
        #expect(
            flips == [
                "\(machine)/m-default-1-1 false",
                "\(machine)/m-default-1-1/plain/deep false",
            ])
        #expect(host.subvolumeInfo(at: "\(machine)/m-1")?.isReadOnly == true)
        #expect(host.subvolumeInfo(at: "\(machine)/m-default")?.isReadOnly == true)
    }

    @Test("a stray whose nested subvolume lies deeper than the kernel's lookup gives back (4079 bytes) is kept, with an error")
    func nestedTooDeepToList() async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            link   default/m/m -> m-1
            subvol default/m/m-default-1-1
            """)
        // 17 directories of 250 bytes (4267 with their slashes), made below
        // the stray as a layout cannot write them (its paths stay below
        // 4096 bytes), then a subvolume at the bottom.
        let root = host.spawn(.root)
        var current = try await root.openRoot("\(machine)/m-default-1-1")
        let name = EntryName(String(repeating: "e", count: 250))!
        for _ in 0..<17 {
            try await root.makeDirectory(name, in: current)
            let next = try await root.openDirectory(name, in: current)
            await root.close(current)
            current = next
        }
        try await root.createSubvolume("inner", in: current)
        await root.close(current)
        let report = await cleanup(host)
        #expect(
            lines(report) == [
                "\(machine)/m-default-1-1: error: unable to delete subvolume: file name too long (ENAMETOOLONG)"
            ])
        #expect(report.exitStatus != 0)
        #expect(names(host, machine) == ["m", "m-1", "m-default-1-1"])
    }

    @Test("a read-only stray without nested subvolumes is deleted as it is, its flag untouched")
    func plainReadOnlyStray() async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            link   default/m/m -> m-1
            subvol default/m/m-default-1-1 ro
            """)
        let recorder = EventRecorder()
        host.install(observer: recorder)
        let report = await cleanup(host)
        #expect(lines(report) == ["\(machine)/m-default-1-1: info: deleted subvolume"])
        #expect(!recorder.effects.contains { if case .setReadOnly = $0 { true } else { false } })
    }

    @Test("a nested delete that fails leaves the stray read-only again, with the line, and halts")
    func failureRestoresTheFlag() async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            link   default/m/m -> m-1
            subvol default/m/m-default-1-1 ro
            subvol default/m/m-default-1-1/a
            subvol default/m/m-default-1-1/b
            """)
        let report = await cleanup(host) { call, _ in
            call.operation == .deleteSubvolumeByID && call.subject.contains("m-default-1-1/b ") ? .busy : nil
        }
        #expect(
            lines(report) == [
                "\(machine)/m-default-1-1/a: info: deleted nested subvolume",
                "\(machine)/m-default-1-1: error: unable to delete subvolume: nested subvolume b: "
                    + FSError(.busy, .deleteSubvolumeByID).cause,
            ])
        #expect(report.exitStatus == 1)
        #expect(host.subvolumeInfo(at: "\(machine)/m-default-1-1")?.isReadOnly == true)
        #expect(names(host, "\(machine)/m-default-1-1") == ["b"])
        // The next run finishes the job.
        let again = await cleanup(host)
        #expect(again.exitStatus == 0)
        #expect(names(host, machine) == ["m", "m-1"])
    }

    @Test("nested subvolumes deleted, then their stray failing: the filesystem is still synced")
    func nestedDeletionsAreSynced() async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            link   default/m/m -> m-1
            subvol default/m/m-default-1-1
            subvol default/m/m-default-1-1/a
            """)
        // The stray's first delete meets `a` (ENOTEMPTY); `a` goes; the
        // stray's second delete fails.
        let strayDeletes = Mutex(0)
        let report = await cleanup(host) { call, _ in
            guard call.operation == .deleteSubvolumeByID, call.subject.contains("m-default-1-1 ") else { return nil }
            return strayDeletes.withLock { count in
                count += 1
                return count == 2 ? .ioError : nil
            }
        }
        #expect(report.exitStatus == 1)
        #expect(names(host, "\(machine)/m-default-1-1") == [])
        #expect(report.syncedVolumes == ["default"], "\(lines(report))")
    }

    @Test("a failure to look for mounts inside a stray (ENOENT: no /proc) keeps it with an error, not as vanished")
    func mountCheckFailing() async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            link   default/m/m -> m-1
            subvol default/m/m-default-1-1
            """)
        let report = await cleanup(host) { call, _ in call.operation == .mountPoints ? .noEntry : nil }
        #expect(report.exitStatus == 1)
        #expect(
            lines(report) == [
                "\(machine)/m-default-1-1: error: unable to delete subvolume: "
                    + FSError(.noEntry, .mountPoints).cause
            ])
        #expect(names(host, machine) == ["m", "m-1", "m-default-1-1"])
    }

    @Test("a flag that cannot be cleared is the original's 'unable to change subvolume property', and nothing goes")
    func clearingFails() async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            link   default/m/m -> m-1
            subvol default/m/m-default-1-1 ro
            subvol default/m/m-default-1-1/inner
            """)
        let report = await cleanup(host) { call, _ in call.operation == .setReadOnly ? .ioError : nil }
        #expect(
            lines(report) == [
                "\(machine)/m-default-1-1: error: unable to change subvolume property: "
                    + FSError(.ioError, .setReadOnly).cause
            ])
        #expect(names(host, "\(machine)/m-default-1-1") == ["inner"])
        #expect(host.subvolumeInfo(at: "\(machine)/m-default-1-1")?.isReadOnly == true)
    }

    @Test("'run as root' is a hint for an unprivileged run only")
    func runAsRootHint() async throws {
        let layout = """
            subvol default/m/m-1 ro
            link   default/m/m -> m-1
            subvol default/m/m-default-1-1 ro owner=1000:1000
            """
        let unprivileged = await cleanup(try makeHost(layout), as: Credentials(user: 1000, group: 1000))
        #expect(
            lines(unprivileged) == [
                "\(machine)/m-default-1-1: error: unable to delete subvolume: read-only subvolume, run as root (EROFS)"
            ])
        // Root only meets EROFS when something else refuses: here an
        // injected one.
        let privileged = await cleanup(try makeHost(layout)) { call, _ in
            call.operation == .deleteSubvolumeByID ? .readOnly : nil
        }
        #expect(
            lines(privileged) == ["\(machine)/m-default-1-1: error: unable to delete subvolume: read-only parent subvolume or file system (EROFS)"])
    }

    @Test("a nested subvolume swapped for another between the listing and the clearing is kept")
    func nestedHolderChanged() async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            link   default/m/m -> m-1
            subvol default/m/m-default-1-1
            subvol default/m/m-default-1-1/deep ro
            subvol default/m/m-default-1-1/deep/deeper
            """)
        let cleaner = host.spawn()
        let other = host.spawn()
        let gate = ScriptedGate(watching: cleaner.processID)
        gate.after({ $0.operation == .nestedSubvolumes }) {
            // An administrator moves the nested subvolume away and puts
            // another in its place.
            let root = try await other.openRoot("\(machine)")
            let stray = try await other.openDirectory("m-default-1-1", in: root)
            try await other.rename("deep", in: stray, to: "moved", in: stray, mode: .noReplace)
            try await other.createSubvolume("deep", in: stray)
            await other.close(stray)
            await other.close(root)
        }
        host.install(gate: gate)
        let report = await CleanupRun(fileSystem: cleaner, root: Layout.defaultRoot, toolchains: ToolchainSet([.default]))
            .run().report
        host.install(gate: nil)
        #expect(
            lines(report) == [
                "\(machine)/m-default-1-1: warning: changed since scan, kept: nested subvolume deep changed"
            ])
        #expect(host.subvolumeInfo(at: "\(machine)/m-default-1-1/moved")?.isReadOnly == true)
    }

    @Test(
        "a nested subvolume whose name is not UTF-8 and that holds another is never opened by its rendering, even beside an exact name that spells it"
    )
    func undecodableHolder() async throws {
        let stray = "\(machine)/m-default-1-1"
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            link   default/m/m -> m-1
            subvol default/m/m-default-1-1 ro
            """)
        try host.addUndecodable(.subvolume, named: "n\\xff", in: stray)
        try host.addUndecodable(.subvolume, named: "inner", in: "\(stray)/n\\xff")
        // The decoy, made after: its exact bytes spell the other's
        // rendering, and it too holds a subvolume.
        try host.addSubvolume("\(stray)/n\\xff")
        try host.addSubvolume("\(stray)/n\\xff/inner")
        let before = try #require(names(host, stray))
        #expect(before == ["n\\xff", "n\\xff"])

        let report = await cleanup(host)
        #expect(
            lines(report) == [
                "\(stray): error: unable to delete subvolume: nested subvolume n\\xff: not valid UTF-8 (EILSEQ)"
            ])
        #expect(report.exitStatus == 1)
        #expect(names(host, stray) == before)
        #expect(host.subvolumeInfo(at: stray)?.isReadOnly == true)
    }
}
