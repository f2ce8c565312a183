import Cleanup
import FSProtocol
import SimFS
import Testing

/// What `machine add` and `upgrade` can leave behind when interrupted, and
/// what the boot cleanup does with it (docs/cleanup.md).
@Suite("The cleanup and what the administration commands leave")
struct CommandLeftoversTests {
    @Test("received images of existing revisions are kept silently")
    func receivedImagesKept() async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            subvol default/m/m-1.received ro received
            subvol default/m/m-2 ro
            subvol default/m/m-2.received ro received
            link   default/m/m -> m-2
            """)
        let before = host.layout()
        let report = await cleanup(host)
        #expect(lines(report) == [])
        #expect(host.layout() == before)
        #expect(report.decisions.filter { $0.item.reason == .receivedImage }.count == 2)
    }

    @Test("a temporary link of an interrupted switch is removed; the current link stays as it was")
    func temporaryLinkRemoved() async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            subvol default/m/m-2 ro
            link   default/m/m -> m-1
            link   default/m/m.link-4242-7 -> m-2
            """)
        let report = await cleanup(host)
        #expect(lines(report) == ["\(machine)/m.link-4242-7: info: removed temporary link"])
        #expect(names(host, machine) == ["m", "m-1", "m-2"])
        #expect(host.linkTarget(at: "\(machine)/m") == "m-1")
    }

    @Test("a writable revision or a received image without revision is reported and kept, never valid")
    func incompleteRevisionReported() async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            subvol default/m/m-1.received ro received
            link   default/m/m -> m-1
            subvol default/m/m-2
            subvol default/m/m-3.received ro received
            dir    default/m/m-4
            subvol default/m/m-4.received ro received
            file   default/m/m-5
            subvol default/m/m-5.received ro received
            """)
        let before = host.layout()
        let report = await cleanup(host)
        // A revision's name that holds no subvolume is no revision: its
        // image is without one.
        #expect(
            lines(report) == [
                "\(machine)/m-2: warning: revision is not read-only (an interrupted receive or ownership change), kept",
                "\(machine)/m-3.received: warning: received image without its revision (an interrupted upgrade), kept",
                "\(machine)/m-4: warning: not a subvolume (plain directory), kept",
                "\(machine)/m-4.received: warning: received image without its revision (an interrupted upgrade), kept",
                "\(machine)/m-5: warning: unknown entry (regular file), kept",
                "\(machine)/m-5.received: warning: received image without its revision (an interrupted upgrade), kept",
            ])
        #expect(host.layout() == before)
        #expect(report.exitStatus == 0)
    }

    @Test("the current link's target is kept even when writable")
    func writableTargetKept() async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1
            link   default/m/m -> m-1
            """)
        let report = await cleanup(host)
        #expect(lines(report) == [])
    }

    @Test("a machine without its link loses its received images and temporary links too")
    func removedMachineGoesWhole() async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            subvol default/m/m-1.received ro received
            subvol default/m/m-2
            link   default/m/m.link-1-1 -> m-1
            """)
        let report = await cleanup(host)
        #expect(
            lines(report) == [
                "\(machine)/m-1: info: deleted subvolume",
                "\(machine)/m-1.received: info: deleted subvolume",
                "\(machine)/m-2: info: deleted subvolume",
                "\(machine)/m.link-1-1: info: removed temporary link",
                "\(machine): info: deleted machine directory",
            ])
        #expect(names(host, "/build/machines/default") == [])
    }

    @Test("a file named like a temporary link is an unknown entry")
    func notALink() async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            link   default/m/m -> m-1
            file   default/m/m.link-1
            """)
        let report = await cleanup(host)
        #expect(lines(report) == ["\(machine)/m.link-1: warning: unknown entry (regular file), kept"])
    }
}
