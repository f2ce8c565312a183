import Cleanup
import FSProtocol
import MachineLayout
import SimFS
import Testing

/// Names are bytes to the kernel and to the original shell in the C locale;
/// Swift's `String` compares them by canonical equivalence and by
/// `Character`. The cleanup must see what the kernel sees.
@Suite("Names compared as bytes")
struct ByteNameTests {
    @Test("a current link to \"caf\\u{e9}\" dangles beside a subvolume \"cafe\\u{301}\": nothing of the machine goes")
    func linkTargetIsBytes() async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            subvol "default/m/cafe\u{301}" ro
            subvol default/m/m-default
            link   default/m/m -> "caf\u{e9}"
            """)
        let before = host.layout()
        let report = await cleanup(host)
        #expect(lines(report).contains("\(machine)/m: error: dangling current machine link to caf\u{e9}"))
        #expect(report.exitStatus == 1)
        #expect(host.layout() == before)
        let decoy = try #require(EntryName("cafe\u{301}"))
        #expect(report.decisions.first { $0.item.path.entry == decoy }?.item.reason != .currentTarget)
    }

    @Test("a volume named \".\" plus a combining mark starts with a dot byte: skipped, never cleaned")
    func dotVolumeIsBytes() async throws {
        let host = try makeHost(
            """
            subvol ".\u{301}v/m/m-1" ro
            subvol ".\u{301}v/m/m-default-4-1"
            """)
        let before = host.layout()
        let report = await cleanup(host)
        #expect(host.layout() == before)
        #expect(!report.decisions.contains { $0.item.action == .deleteSubvolume })
    }

    @Test("a machine named \"-\" plus a combining mark is no machine: its entries stay")
    func dashMachineIsBytes() async throws {
        let host = try makeHost(
            """
            subvol "default/-\u{301}m/-\u{301}m-1" ro
            subvol "default/-\u{301}m/-\u{301}m-default-4-1"
            """)
        let before = host.layout()
        _ = await cleanup(host)
        #expect(host.layout() == before)
    }

    @Test("the layout format keeps the two spellings apart")
    func layoutKeepsSpellings() throws {
        let layout = try Layout.parse(
            """
            dir "default/caf\u{e9}"
            dir "default/cafe\u{301}"
            """)
        #expect(layout.entries.count == 2)
        #expect(layout.entries[0] != layout.entries[1])
        let host = try SimulatedHost(layout: layout)
        #expect(host.names(at: Layout.defaultRoot + "/default")?.count == 2)
    }
}
