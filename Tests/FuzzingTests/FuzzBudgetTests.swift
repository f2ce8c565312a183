import FSProtocol
import Fuzzing
import MachineLayout
import Testing

/// The fixed seed budget of `swift test`: every oracle holds on every
/// case, and every classification and decision branch of the cleanup is
/// reached.
@Suite("the fuzzer's fixed budget")
struct FuzzBudgetTests {
    static let seed: UInt64 = 0x5EED_2026

    @Test("10,000 cases from one seed: no failure, every reachable branch reached")
    func budget() async {
        let summary = await FuzzSession(seed: Self.seed).run(.cases(10_000))
        #expect(summary.cases == 10_000)
        #expect(summary.failedCases == 0, "\(summary.findings.map { "case \($0.index): \($0.failure)" })")
        #expect(summary.coverage.unreached.isEmpty, "never reached: \(summary.coverage.unreached)")
        // Each branch reached, by name, with its count (a branch list that
        // lost names would pass the line above).
        #expect(summary.coverage.reached == BranchCoverage.branches.count - BranchCoverage.unreachable.count)
        for branch in ["reason:layout-not-recognised", "outcome:refused", "outcome:locked", "outcome:vanished",
            "outcome:changed", "outcome:failed", "configuration:refused"]
        {
            #expect(summary.coverage.counts[branch, default: 0] > 0, "\(branch)")
        }
    }

    @Test("a seed draws the same cases and verdicts, byte for byte")
    func determinism() async {
        let generator = WorldGenerator()
        for index in [0, 1, 17, 999] {
            let seed = WorldGenerator.caseSeed(Self.seed, index)
            let first = generator.world(seed: seed).scenario(oracle: nil, message: nil).fileText(comments: [])
            let second = generator.world(seed: seed).scenario(oracle: nil, message: nil).fileText(comments: [])
            #expect(first == second)
        }
        let one = await FuzzSession(seed: Self.seed).run(.cases(300))
        let two = await FuzzSession(seed: Self.seed).run(.cases(300))
        #expect(one.coverage == two.coverage)
        #expect(one.failuresByOracle == two.failuresByOracle)
        let other = await FuzzSession(seed: Self.seed + 1).run(.cases(300))
        #expect(other.coverage != one.coverage)
    }

    @Test("every world is one Linux can store: names of at most 255 bytes, valid layout text")
    func storable() throws {
        let generator = WorldGenerator()
        for index in 0..<2_000 {
            let world = generator.world(seed: WorldGenerator.caseSeed(Self.seed, index))
            for entry in world.layout.entries {
                for component in EntryName.components(of: entry.path) {
                    #expect(component.utf8.count <= Layout.maximumNameBytes, "\(entry.path)")
                }
            }
            // The text form reads back as the same layout.
            #expect(try Layout.parse(world.layout.text) == world.layout)
        }
    }

    @Test("the swarm turns features on and off: each is on in some worlds and off in others")
    func swarm() {
        let generator = WorldGenerator()
        var on: [FuzzFeature: Int] = [:]
        let count = 1_000
        for index in 0..<count {
            for feature in generator.world(seed: WorldGenerator.caseSeed(Self.seed, index)).features {
                on[feature, default: 0] += 1
            }
        }
        for feature in FuzzFeature.allCases {
            #expect((1..<count).contains(on[feature, default: 0]), "\(feature.rawValue): on in \(on[feature, default: 0])")
        }
    }
}
