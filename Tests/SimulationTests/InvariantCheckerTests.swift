import FSProtocol
import MachineLayout
import SimFS
import Testing

@testable import Simulation

/// The invariant checks on recorded sequences of events, written here by
/// hand: no host, no run.
@Suite("Invariant checks on recorded events")
struct InvariantCheckerTests {
    static let root = "/build/machines"
    static let key = SubvolumeKey(filesystem: 1, id: SubvolumeID(300))

    static func check(_ events: [RunEvent]) -> [Int] {
        var checker = InvariantChecker(root: root, toolchains: ToolchainSet([.default]))
        for (step, event) in events.enumerated() { checker.observe(event, step: step) }
        return checker.violations.map(\.invariant)
    }

    static func call(
        _ pid: Int32, _ operation: FSOperation, error: FSError.Kind? = nil, injected: Bool = false,
        _ effects: [RunEffect] = []
    ) -> RunEvent {
        .call(pid: pid, operation: operation, subject: "", error: error, injected: injected, effects: effects)
    }

    static let working = "/build/machines/default/m/m-default-100-1"

    @Test("the fuzzer's observer leaves its host to die with the case")
    func observerDoesNotKeepItsHost() {
        weak var released: SimulatedHost?
        weak var observer: CleanupInvariants?
        do {
            let host = SimulatedHost()
            let invariants = CleanupInvariants(host: host, root: InvariantCheckerTests.root, toolchains: .none)
            host.install(observer: invariants)
            released = host
            observer = invariants
        }
        #expect(released == nil)
        #expect(observer == nil)
    }

    @Test("a machine entry is a path of exactly three names, split at its / bytes")
    func threeNames() {
        let split = InvariantChecker.threeNames("v/m\u{301}/m-1")
        #expect(split.map { [$0.volume, $0.directory, $0.machine, $0.name] } == ["v", "v/m\u{301}", "m\u{301}", "m-1"])
        #expect(InvariantChecker.threeNames("v/\u{301}/x")?.name == "x")
        for path in ["v/m", "v/m/e/f", "/v/m", "v//e", "v/m/", "", "v/m/e/"] {
            #expect(InvariantChecker.threeNames(path) == nil, "\(path)")
        }
        let checker = InvariantChecker(root: "/build/machines/", toolchains: ToolchainSet([.default]))
        #expect(checker.machineEntry("/build/machines/v/m/m-1").map { [$0.volume, $0.machine, $0.entry] } == ["v", "m", "m-1"])
        #expect(checker.machineEntry("/build/machinesx/v/m/m-1") == nil)
        #expect(checker.machineEntry("/build/machines/v/m") == nil)
    }

    @Test("an agent's working snapshot deleted by another while the agent lives breaks 2; after it died, not")
    func ownedSnapshot() {
        let created = Self.call(100, .snapshot, [.createdSubvolume(Self.key, path: Self.working)])
        let deleted = Self.call(
            101, .deleteSubvolumeByID, [.deletedSubvolume(Self.key, path: Self.working, linkTarget: "m-1")])
        let started: [RunEvent] = [
            .started(pid: 100, role: .agent, name: "agent"), .started(pid: 101, role: .cleanup, name: "cleanup"),
        ]
        #expect(Self.check(started + [created, deleted]) == [2])
        #expect(Self.check(started + [created, .died(pid: 100), deleted]) == [])
        // The agent deleting its own: fine.
        #expect(
            Self.check(
                started + [
                    created, Self.call(100, .deleteSubvolume, [.deletedSubvolume(Self.key, path: Self.working, linkTarget: nil)]),
                ]) == [])
    }

    @Test("a virtual machine's subvolume deleted under it breaks 2")
    func runningMachine() {
        let events: [RunEvent] = [
            .started(pid: 100, role: .agent, name: "agent"), .started(pid: 102, role: .other, name: "admin"),
            .machine(pid: 100, subvolume: Self.key, running: true),
            Self.call(102, .deleteSubvolume, [.deletedSubvolume(Self.key, path: Self.working, linkTarget: nil)]),
        ]
        #expect(Self.check(events) == [2])
    }

    @Test("the current link's target deleted breaks 1")
    func currentTarget() {
        let events: [RunEvent] = [
            .started(pid: 101, role: .cleanup, name: "cleanup"),
            Self.call(
                101, .deleteSubvolumeByID,
                [.deletedSubvolume(Self.key, path: "/build/machines/default/m/m-2", linkTarget: "m-2")]),
        ]
        #expect(Self.check(events) == [1])
        // A link to the other spelling of the name dangles: deleting this
        // subvolume deletes no link's target (found by the fuzzer).
        let twin: [RunEvent] = [
            .started(pid: 101, role: .cleanup, name: "cleanup"),
            Self.call(
                101, .deleteSubvolumeByID,
                [.deletedSubvolume(Self.key, path: "/build/machines/default/m/caf\u{e9}", linkTarget: "cafe\u{301}")]),
        ]
        #expect(Self.check(twin) == [])
    }

    @Test("a destructive call after following a link breaks 3; a failed one does not")
    func followedLink() {
        let started = RunEvent.started(pid: 101, role: .cleanup, name: "original")
        let followed = RunEvent.followedLink(pid: 101, path: "/build/machines/default/m/m-latest")
        #expect(Self.check([started, followed, Self.call(101, .deleteSubvolume)]) == [3])
        #expect(Self.check([started, followed, Self.call(101, .deleteSubvolume, error: .readOnly)]) == [])
        #expect(Self.check([started, followed, Self.call(101, .list)]) == [])
    }

    @Test("a bootstrapped machine made by a snapshot, or renamed before its bootstrap finished, breaks 4")
    func publishing() {
        let bootstrapped = "/build/machines/default/m/m-default"
        #expect(Self.check([Self.call(100, .snapshot, [.createdSubvolume(Self.key, path: bootstrapped)])]) == [4])
        #expect(
            Self.check([
                Self.call(100, .rename, [.renamed(to: bootstrapped, kind: .subvolume, subvolume: Self.key, complete: false)])
            ]) == [4])
        #expect(
            Self.check([
                Self.call(100, .rename, [.renamed(to: bootstrapped, kind: .subvolume, subvolume: Self.key, complete: true)])
            ]) == [])
    }

    @Test("a read-only property a cleanup changed on what stays breaks 5 at the end; set back, not")
    func readOnlyKept() {
        let started = RunEvent.started(pid: 101, role: .cleanup, name: "cleanup")
        let cleared = Self.call(101, .setReadOnly, [.setReadOnly(Self.key, path: Self.working, readOnly: false)])
        #expect(Self.check([started, cleared, .end(root: Layout(), readOnlyNow: [Self.key: false], reported: [])]) == [5])
        #expect(Self.check([started, cleared, .end(root: Layout(), readOnlyNow: [Self.key: true], reported: [])]) == [])
        // Deleted meanwhile: nothing stays.
        #expect(Self.check([started, cleared, .end(root: Layout(), readOnlyNow: [:], reported: [])]) == [])
    }

    @Test("after a boot cleanup with no agent, only recognised entries stay unreported (6); a linkless machine at the end breaks 7")
    func afterCleanupAndEnd() throws {
        // As a host writes it down: every directory an entry.
        let layout = try Layout.parse(
            """
            dir    default/m
            dir    default/gone
            subvol default/m/m-1 ro
            link   default/m/m -> m-1
            subvol default/m/m-default-9-9
            subvol default/gone/gone-1 ro
            """)
        #expect(Self.check([.bootCleanupFinished(reported: [], othersRan: false, root: layout)]) == [6, 6])
        #expect(Self.check([.bootCleanupFinished(reported: [], othersRan: true, root: layout)]) == [])
        #expect(
            Self.check([
                .bootCleanupFinished(
                    reported: ["/build/machines/default/m/m-default-9-9", "/build/machines/default/gone/gone-1"],
                    othersRan: false, root: layout)
            ]) == [])
        #expect(Self.check([.end(root: layout, readOnlyNow: [:], reported: [])]) == [7])
        // What the last cleanup reported is kept on purpose: the directory,
        // its volume, its link (in error).
        for reported in ["/build/machines/default/gone", "/build/machines/default", "/build/machines/default/gone/gone"] {
            #expect(Self.check([.end(root: layout, readOnlyNow: [:], reported: [ExactText(reported)])]) == [])
        }
        #expect(Self.check([.end(root: layout, readOnlyNow: [:], reported: ["/build/machines/default/m"])]) == [7])
    }

    @Test("a volume or machine directory reported whole keeps its entries; a link in error, its machines (6)")
    func reportedContainers() throws {
        let layout = try Layout.parse(
            """
            dir    .snapshots/m
            subvol .snapshots/m/m-default-1-1
            dir    default/n
            subvol default/n/n-old
            dir    default/o
            link   default/o/o -> o-1/
            subvol default/o/o-old
            subvol default/o/o-2 ro
            subvol default/o/o-old-1-1
            """)
        #expect(Self.check([.bootCleanupFinished(reported: [], othersRan: false, root: layout)]) == [6, 6, 6, 6])
        let reported: Set<ExactText> = [
            "/build/machines/.snapshots", "/build/machines/default/n", "/build/machines/default/o/o",
        ]
        // A link in error keeps the revisions and bootstrapped machines,
        // not a stale working snapshot.
        #expect(Self.check([.bootCleanupFinished(reported: reported, othersRan: false, root: layout)]) == [6])
    }

    @Test("a double close that was not injected breaks 0")
    func doubleClose() {
        #expect(Self.check([Self.call(100, .close, error: .badDescriptor)]) == [0])
        #expect(Self.check([Self.call(100, .close, error: .badDescriptor, injected: true)]) == [])
    }
}
