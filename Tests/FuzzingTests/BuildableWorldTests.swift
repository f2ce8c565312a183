import FSProtocol
import Fuzzing
import MachineLayout
import SimFS
import Testing

/// The worlds of the differential mode: nothing but a tree the protocol
/// can build, and a configuration.
@Suite("Buildable worlds")
struct BuildableWorldTests {
    @Test("300 seeds: no entry outside the root, nothing the simulation alone can do, and every tree builds")
    func buildable() async throws {
        for seed in UInt64(0)..<300 {
            var world = WorldGenerator.buildable.world(seed: seed)
            #expect(world.layout.entries.allSatisfy { !$0.path.hasPrefix("/") }, "seed \(seed)")
            #expect(world.layout.entries.allSatisfy { ![.mount, .tmpfs, .fifo].contains($0.kind) }, "seed \(seed)")
            #expect(world.features.isDisjoint(with: FuzzFeature.simulationOnly), "seed \(seed)")
            #expect(world.actors.isEmpty && world.crashes.isEmpty && world.faults.isEmpty, "seed \(seed)")
            #expect(world.races.isEmpty && world.heldLocks.isEmpty && world.mode == .boot, "seed \(seed)")
            let host = SimulatedHost()
            try host.addVolume("/fs")
            try host.addDirectory("/fs/case")
            world.layout.root = "/fs/case"
            do {
                try await world.layout.build(on: host.spawn(.root)) { BtrfsUUID(high: 1, low: seed) }
            } catch {
                Issue.record("seed \(seed): \(error)")
            }
        }
    }

    @Test("the simulation's worlds still have a tree outside the root now and then")
    func outsideTree() {
        let worlds = (UInt64(0)..<300).map { WorldGenerator().world(seed: $0) }
        #expect(worlds.contains { world in world.layout.entries.contains { $0.path == "/srv/outside" } })
    }

    @Test("the simulation's races include a machine's link made after the scan, naming a revision of a machine without one")
    func linkRaces() {
        var links = 0
        for seed in UInt64(0)..<2000 {
            let world = WorldGenerator().world(seed: seed)
            for race in world.races where race.kind == .link {
                links += 1
                let machine = String(race.path.split(separator: "/").last ?? "")
                #expect(!world.layout.entries.contains { $0.path == race.path + "/" + machine }, "seed \(seed)")
                let target = world.layout.entries.first { $0.path == race.path + "/" + (race.target ?? "") }
                #expect(target?.kind == .subvol, "seed \(seed)")
                #expect(race.target?.hasPrefix(machine + "-") == true, "seed \(seed)")
            }
        }
        #expect(links > 0)
    }
}
