import Cleanup
@testable import Fuzzing
import MachineLayout
import Testing

@Suite("the shrinker")
struct ShrinkerTests {
    /// A planted bug: the items of a reason get another action.
    static func planting(_ action: PlannedAction, forReason code: String) -> @Sendable (Plan) -> Plan {
        { plan in
            var plan = plan
            for index in plan.items.indices where plan.items[index].reason.code == code {
                plan.items[index].action = action
            }
            return plan
        }
    }

    @Test("renaming an entry moves what lies below it and the links of its directory that name it")
    func renamingAnEntry() throws {
        let layout = try Layout.parse(
            """
            subvol default/m/m-gcc-12345
            subvol default/m/m-gcc-12345/inner
            link   default/m/m-latest -> m-gcc-12345
            link   default/m/m-other -> ../n/m-gcc-12345
            subvol default/n/m-gcc-12345
            """)
        let renamed = Shrinker.renaming(entry: 0, to: "default/m/m-gcc-1", in: layout)
        #expect(renamed.entries.map(\.path) == [
            "default/m/m-gcc-1", "default/m/m-gcc-1/inner", "default/m/m-latest", "default/m/m-other",
            "default/n/m-gcc-12345",
        ])
        #expect(renamed.entries[2].target == "m-gcc-1")
        #expect(renamed.entries[3].target == "../n/m-gcc-12345")
        // A name taken already: the layout stays as it was.
        #expect(Shrinker.renaming(entry: 0, to: "default/m/m-latest", in: layout) == layout)
    }

    @Test("merging a machine into another moves its entries under the other's name, without its link; never onto a name taken")
    func mergingMachines() throws {
        let layout = try Layout.parse(
            """
            link   default/m/m -> m-1
            subvol default/m/m-gcc-9
            link   default/n/n -> n-1.3
            subvol default/n/n-default-1-1 ro
            link   default/n/n-latest -> n-default-1-1
            subvol default/x/x-1
            """)
        let merged = Shrinker.merging(machine: "default/n", into: "default/m", in: layout)
        #expect(merged.entries.map(\.path) == [
            "default/m/m", "default/m/m-gcc-9", "default/m/m-default-1-1", "default/m/m-latest", "default/x/x-1",
        ])
        #expect(merged.entries[3].target == "m-default-1-1")
        // A name taken in the other machine: no merge.
        let taken = try Layout.parse("subvol default/m/m-1\nsubvol default/n/n-1")
        #expect(Shrinker.merging(machine: "default/n", into: "default/m", in: taken) == taken)
        // Another volume: no merge.
        let apart = try Layout.parse("subvol default/m/m-1\nsubvol v2/n/n-2")
        #expect(Shrinker.merging(machine: "v2/n", into: "default/m", in: apart) == apart)
    }

    @Test("a failing world shrinks to the entries the failure needs")
    func shrinks() async throws {
        // A planted bug: bootstrapped machines of configured toolchains go.
        let runner = CaseRunner(planTransform: Self.planting(.deleteSubvolume, forReason: "configured-toolchain"))
        var world = FuzzWorld(
            seed: 7,
            layout: try Layout.parse(
                """
                volume default
                dir    default/linux_debian_12-gcc_13.1
                subvol default/linux_debian_12-gcc_13.1/linux_debian_12-gcc_13.1-1 ro
                subvol default/linux_debian_12-gcc_13.1/linux_debian_12-gcc_13.1-2 ro
                link   default/linux_debian_12-gcc_13.1/linux_debian_12-gcc_13.1 -> linux_debian_12-gcc_13.1-2
                subvol default/linux_debian_12-gcc_13.1/linux_debian_12-gcc_13.1-default
                subvol default/linux_debian_12-gcc_13.1/linux_debian_12-gcc_13.1-default-1-1
                file   default/linux_debian_12-gcc_13.1/notes
                dir    default/other
                subvol default/other/other-1 ro
                link   default/other/other -> other-1
                """))
        world.toolchains = ["default", "gcc"]
        #expect(await runner.run(world).oracles.contains(.rules))
        let (shrunk, failure) = await Shrinker(runner: runner).shrink(world, keeping: .rules)
        #expect(failure?.oracle == .rules)
        // The bootstrapped machine alone shows it (the link being absent
        // would make it a machine being deleted), under a short name.
        #expect(shrunk.layout.entries.count <= 3, "\(shrunk.layout.text)")
        #expect(shrunk.layout.entries.contains { $0.path.hasSuffix("-default") && $0.kind == .subvol })
        #expect(shrunk.layout.entries.allSatisfy { !$0.path.contains("linux_debian") }, "\(shrunk.layout.text)")
        #expect(shrunk.toolchains.count == 1)
    }

    @Test("a long entry name shrinks to a short one, and so does the link that names it")
    func shortNames() async throws {
        // A planted bug: stale working snapshots are kept.
        let runner = CaseRunner(planTransform: Self.planting(.keep, forReason: "stale-working-snapshot"))
        let long = "m-gcc-" + String(repeating: "9", count: 240)
        let world = FuzzWorld(
            seed: 9,
            layout: try Layout.parse(
                """
                subvol default/m/m-1234567 ro
                link   default/m/m -> m-1234567
                subvol default/m/\(long)
                """))
        let (shrunk, failure) = await Shrinker(runner: runner).shrink(world, keeping: .rules)
        #expect(failure?.oracle == .rules)
        let paths = shrunk.layout.entries.map(\.path)
        #expect(paths.contains("default/m/m-gcc-9"), "\(shrunk.layout.text)")
        #expect(paths.allSatisfy { $0.utf8.count < 30 }, "\(shrunk.layout.text)")
        // The link follows its target's new name, or is gone with it.
        for entry in shrunk.layout.entries where entry.kind == .link {
            #expect(entry.target.map { target in paths.contains("default/m/" + target) || target == "m-1234567" } == true)
        }
    }

    @Test("a long name without a dash, or with a mark on its dash, shrinks by bytes")
    func longNamesByBytes() async throws {
        // A planted bug: unknown entries in a machine directory are removed.
        let runner = CaseRunner(planTransform: Self.planting(.removeLockFile, forReason: "unknown-entry"))
        let stray = String(repeating: "z", count: 200)
        let world = FuzzWorld(
            seed: 11,
            layout: try Layout.parse(
                """
                subvol default/m/m-1 ro
                link   default/m/m -> m-1
                file   default/m/\(stray)
                """))
        let (shrunk, failure) = await Shrinker(runner: runner).shrink(world, keeping: .rules)
        #expect(failure?.oracle == .rules)
        let file = shrunk.layout.entries.first { $0.kind == .file }
        #expect(file.map { $0.path.utf8.count <= "default/m/zz".utf8.count } == true, "\(shrunk.layout.text)")

        // The dash of `m-gcc-\u{301}...` carries a mark: one character with
        // it, found by its bytes all the same; the cut keeps whole scalars.
        let marked = "m-gcc-\u{301}" + String(repeating: "9", count: 100)
        let snapshots = CaseRunner(planTransform: Self.planting(.keep, forReason: "stale-working-snapshot"))
        let second = FuzzWorld(
            seed: 12,
            layout: try Layout.parse(
                """
                subvol default/m/m-1 ro
                link   default/m/m -> m-1
                subvol default/m/\(marked)
                """))
        #expect(await snapshots.run(second).oracles.contains(.rules))
        let (small, found) = await Shrinker(runner: snapshots).shrink(second, keeping: .rules)
        #expect(found?.oracle == .rules)
        let paths = small.layout.entries.map(\.path)
        #expect(paths.allSatisfy { $0.utf8.count < 30 }, "\(small.layout.text)")
    }

    @Test("a world that passes stays as it is")
    func passing() async throws {
        let world = FuzzWorld(seed: 1, layout: try Layout.parse("dir default/m\nsubvol default/m/m-1 ro\nlink default/m/m -> m-1"))
        let (shrunk, failure) = await Shrinker(runner: CaseRunner()).shrink(world, keeping: .rules)
        #expect(failure == nil)
        #expect(shrunk == world)
    }
}
