import Cleanup
import FSProtocol
import SimFS
import Testing

/// A tree the tool does not recognise is never destroyed: a machine
/// without its current link that still links to one of its own subvolumes
/// is not a machine being deleted, and a later Build OS layout loses
/// nothing.
@Suite("Unrecognised machine layouts")
struct UnrecognisedLayoutTests {
    static let layouts: [(link: String, target: String)] = [
        ("m-latest", "m-2"),
        ("m.renamed-by-hand", "m-2"),
        ("m-latest", "./m-2"),
        ("m-latest", "../m/m-2"),
        ("m-latest", "/build/machines/default/m/m-2"),
        ("m-latest", "m-2/"),
        ("m-latest", "m-default"),
        // Paths into a subvolume: the kernel follows them there.
        ("m-latest", "m-2/disk.img"),
        ("m-latest", "m-2/boot/.."),
        ("m-latest", "../m/m-2/boot/disk.img"),
        ("m-latest", "/build/machines/default/m/m-2/disk.img"),
    ]

    @Test("a link-less machine with a symlink to its own subvolume keeps everything, with an error", arguments: layouts)
    func linkToOwnSubvolume(link: String, target: String) async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            subvol default/m/m-2 ro
            subvol default/m/m-default
            subvol default/m/m-default-4-1
            file   default/m/m-default.lock
            link   "default/m/\(link)" -> "\(target)"
            """)
        let before = host.layout()
        let report = await cleanup(host)
        let named = target.split(separator: "/").first { $0.hasPrefix("m-") }.map(String.init) ?? target
        #expect(
            lines(report) == [
                "\(machine): error: layout not recognised, everything kept: no current machine link, "
                    + "but the symbolic link \(link) -> \(target) names its subvolume \(named)"
            ])
        #expect(report.exitStatus == 1)
        #expect(host.layout() == before)
        #expect(report.decisions.filter { $0.item.path.entry != nil }.allSatisfy { $0.item.reason == .inUnrecognisedLayout })
        #expect(report.decisions.first { $0.item.path.entry == nil && $0.item.path.machine != nil }?.item.reason.code == "layout-not-recognised")
    }

    @Test("a link-less machine with a symlink that cannot be read (its target or its name not UTF-8) keeps everything")
    func unreadableLinks() async throws {
        // m-latest -> m-2\xff names the subvolume m-2\xff: read as
        // "m-2\u{FFFD}" it named none, and m-1 went with the machine.
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            subvol default/m/m-default-4-1
            """)
        try host.addUndecodable(.subvolume, named: "m-2\\xff", in: machine)
        try host.addSymlink(machine + "/m-latest", targetBytes: Array("m-2".utf8) + [0xFF])
        let before = host.layout()
        let report = await cleanup(host)
        #expect(
            lines(report) == [
                "\(machine): error: layout not recognised, everything kept: no current machine link, "
                    + "and the symbolic link m-latest cannot be read"
            ])
        #expect(host.layout() == before)

        // A link whose own name is not UTF-8 cannot be read at all: in
        // doubt, it may name one of the machine's subvolumes.
        let named = try makeHost(
            """
            subvol default/m/m-1 ro
            subvol default/m/m-2 ro
            """)
        try named.addUndecodable(.symlink, named: "m-latest\\xff", in: machine, target: "m-2")
        let kept = named.layout()
        let second = await cleanup(named)
        #expect(
            lines(second) == [
                "\(machine): error: layout not recognised, everything kept: no current machine link, "
                    + "and the symbolic link m-latest\\xff cannot be read"
            ])
        #expect(named.layout() == kept)

        // Nor is one that reads like the machine commands' temporary link.
        let temporary = try makeHost("subvol default/m/m-1 ro")
        try temporary.addUndecodable(.symlink, named: "m.link-\\xff", in: machine, target: "m-1")
        let unchanged = temporary.layout()
        let third = await cleanup(temporary)
        #expect(lines(third).first?.hasSuffix("the symbolic link m.link-\\xff cannot be read") == true, "\(lines(third))")
        #expect(temporary.layout() == unchanged)
    }

    @Test("a current link whose target is not UTF-8 cannot be read: the machine is kept, with an error")
    func currentLinkNotUTF8() async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            subvol default/m/m-default-4-1
            """)
        try host.addUndecodable(.subvolume, named: "m-2\\xff", in: machine)
        try host.addSymlink(machine + "/m", targetBytes: Array("m-2".utf8) + [0xFF])
        let report = await cleanup(host)
        #expect(
            lines(report).first
                == "\(machine)/m: error: unable to read current machine link: not valid UTF-8 (EILSEQ)",
            "\(lines(report))")
        #expect(host.entryKind(at: machine + "/m-1") == .subvolume)
    }

    @Test("a later-layout machine (<m>-<P> -> <m>-<P>.<R>) loses nothing, linked or not")
    func laterLayout() async throws {
        let host = try makeHost(
            """
            subvol default/w/w-1.2 ro
            subvol default/w/w-1.3 ro
            link   default/w/w-1 -> w-1.3
            subvol default/w/w-default
            subvol default/w/w-1.3-4-1
            subvol default/x/x-2.1 ro
            subvol default/x/x-2.1-default
            """)
        let before = host.layout()
        let report = await cleanup(host)
        #expect(
            lines(report) == [
                "/build/machines/default/w: error: layout not recognised, everything kept: no current machine link, "
                    + "but the symbolic link w-1 -> w-1.3 names its subvolume w-1.3",
                // Without any link, each later-layout name is unknown, kept.
                "/build/machines/default/x/x-2.1: warning: unknown entry (subvolume), kept",
                "/build/machines/default/x/x-2.1-default: warning: unknown entry (subvolume), kept",
                "/build/machines/default/x: warning: machine directory kept: it holds entries that are not removed",
            ])
        #expect(host.layout() == before)
        #expect(report.exitStatus == 1)
    }

    @Test("symlinks that name none of its subvolumes do not stop a machine's deletion", arguments: ["/etc", "m-9", "..", "m-x/"])
    func unrelatedLinks(target: String) async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            subvol default/m/m-default-4-1
            dir    default/m/m-x
            link   default/m/m-other -> "\(target)"
            """)
        let report = await cleanup(host)
        #expect(
            lines(report) == [
                "\(machine)/m-1: info: deleted subvolume",
                "\(machine)/m-default-4-1: info: deleted subvolume",
                "\(machine)/m-other: warning: symbolic link, kept, not followed",
                "\(machine)/m-x: warning: not a subvolume (plain directory), kept",
                "\(machine): warning: machine directory kept: it holds entries that are not removed",
            ])
    }

    @Test("the dry run shows the decision and the error, and changes nothing")
    func dryRun() async throws {
        let host = try makeHost(
            """
            subvol default/m/m-2 ro
            link   default/m/m-latest -> m-2
            """)
        let before = host.layout()
        let report = await cleanup(host, dryRun: true)
        #expect(report.exitStatus == 1)
        #expect(lines(report).count == 1)
        #expect(host.layout() == before)
    }
}
