import Cleanup
import FSProtocol
import Fuzzing
import MachineLayout
import SimFS
import Simulation
import Testing

/// Worlds drawn around a given tree (`fuzz --layout FILE`): the tree is
/// every world's, the seed draws the rest, and a failure shrinks to a
/// part of that tree.
@Suite("worlds around a given tree")
struct BaseTreeTests {
    /// An operator's tree: two machines, one with two-digit revisions,
    /// toolchains `gcc_13` and `clang`, a stray and a lock file.
    static let base: Layout = {
        let text = """
            subvol v/m/m-11 ro
            subvol v/m/m-12 ro
            link   v/m/m -> m-12
            subvol v/m/m-gcc_13
            subvol v/m/m-gcc_13-7-1
            file   v/m/m-clang.lock
            subvol w/n/n-3 ro
            link   w/n/n -> n-3
            subvol w/n/n-clang
            """
        // As `fuzz --layout` takes it: built, then read back.
        let layout = try! Layout.parse(text)
        return try! SimulatedHost(layout: layout).layout(root: layout.root)
    }()

    @Test("every world holds the tree; the configuration comes from its toolchains; the rest is drawn")
    func drawnAround() {
        let generator = WorldGenerator(base: Self.base)
        var configured: Set<String> = []
        var withFaults = 0
        var withActors = 0
        var withRaces = 0
        var withLocks = 0
        for index in 0..<400 {
            let world = generator.world(seed: WorldGenerator.caseSeed(9, index))
            #expect(world.layout == Self.base)
            #expect(world.features.isSubset(of: FuzzFeature.aroundTheTree), "\(world.features)")
            configured.formUnion(world.toolchains)
            withFaults += world.faults.isEmpty ? 0 : 1
            withActors += world.actors.isEmpty ? 0 : 1
            withRaces += world.races.isEmpty ? 0 : 1
            withLocks += world.heldLocks.isEmpty ? 0 : 1
            // Held locks are of the tree's machines.
            for lock in world.heldLocks { #expect(lock.hasPrefix("v/m/m-") || lock.hasPrefix("w/n/n-"), "\(lock)") }
            // What the seed draws names the tree's entries.
            for fault in world.faults { #expect(fault.path.hasPrefix(Layout.defaultRoot + "/")) }
            for race in world.races where race.kind != .add {
                #expect(Self.base.entries.contains { $0.path == race.path }, "\(race)")
            }
            // The same seed, the same world.
            #expect(generator.world(seed: WorldGenerator.caseSeed(9, index)) == world)
        }
        // The tree's toolchains and `default`, and now and then one the
        // command line would refuse.
        #expect(configured.isSuperset(of: ["gcc_13", "clang", "default"]), "\(configured)")
        #expect(configured.subtracting(["gcc_13", "clang", "default"]).allSatisfy { Toolchain(rawValue: $0) == nil })
        #expect(withFaults > 0 && withActors > 0 && withRaces > 0 && withLocks > 0)
    }

    @Test("a planted bug in the keep rules shows on the tree and shrinks to a part of it")
    func plantedBugShrinks() async {
        // Only one-digit revisions are revisions: `m-11` is deleted.
        let runner = CaseRunner(
            planTransform: PlantedBugTests.rewriting(
                { PlantedBugTests.isLongRevision($0) && $0.kind == .subvolume && $0.reason == .revision }, to: .report,
                .unknownEntry(.subvolume)))
        var session = FuzzSession(seed: 0xBA5E, generator: WorldGenerator(base: Self.base), runner: runner)
        session.shrinkBudget = 1_500
        let summary = await session.run(.cases(200))
        let finding = summary.findings.first { $0.failure.oracle == .rules }
        #expect(finding != nil, "\(summary.findings.map(\.failure))")
        guard let finding else { return }
        let shrunk = finding.shrunk.layout
        #expect(shrunk.entries.count <= 3, "\(shrunk.text)")
        #expect(shrunk.entries.contains { $0.path == "v/m/m-11" }, "\(shrunk.text)")
        let paths = Set(Self.base.entries.map(\.path))
        #expect(shrunk.entries.allSatisfy { paths.contains($0.path) }, "\(shrunk.text)")
        let file = finding.scenarioFile(runSeed: 0xBA5E, drawnWith: "--layout tree.layout ")
        #expect(file.contains("Draw it again: buildos-clean-dev fuzz --layout tree.layout --seed 0x000000000000ba5e"))
    }

    @Test("a tree on a volume without user_subvol_rm_allowed gets no agents and no machine commands")
    func noAgentsWithoutUserRemoval() throws {
        let layout = try Layout.parse("volume v nouser_subvol_rm_allowed\nsubvol v/m/m-1 ro\nlink v/m/m -> m-1\n")
        let base = try SimulatedHost(layout: layout).layout(root: layout.root)
        let generator = WorldGenerator(base: base)
        #expect(!generator.allowed.contains(.agents) && !generator.allowed.contains(.commands))
        #expect(WorldGenerator(base: Self.base).allowed.isSuperset(of: [.agents, .commands]))
        for index in 0..<200 { #expect(generator.world(seed: WorldGenerator.caseSeed(4, index)).actors.isEmpty) }
    }

    @Test("around a tree whose root is / on a btrfs, every oracle passes (paths below / have one slash)")
    func rootIsSlash() async throws {
        let layout = try Layout.parse(
            "root / btrfs\nsubvol default/m/m-1 ro\nlink default/m/m -> m-1\nsubvol default/m/m-default-1-1\n"
                + "subvol default/n/n-2 ro\nsubvol default/n/n-default\n")
        let base = try SimulatedHost(layout: layout).layout(root: layout.root)
        let summary = await FuzzSession(seed: 5, generator: WorldGenerator(base: base)).run(.cases(500))
        #expect(summary.failedCases == 0, "\(summary.findings.map(\.failure))")
    }

    @Test("without a planted bug, the worlds around the tree pass every oracle")
    func clean() async {
        let summary = await FuzzSession(seed: 0xBA5E, generator: WorldGenerator(base: Self.base)).run(.cases(200))
        #expect(summary.failedCases == 0, "\(summary.findings.map(\.failure))")
    }
}
