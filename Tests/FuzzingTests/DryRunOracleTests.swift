import Cleanup
import SimFS
@testable import Fuzzing
import MachineLayout
import Testing

/// The dry-run oracle's comparison of lines: what the dry run prints, the
/// run prints too; at boot, every refusal for a mount is foreseen.
@Suite("The dry run's oracle on lines")
struct DryRunOracleTests {
    static let root = "/build/machines"

    static func failures(dry: [Diagnostic], applied: [Diagnostic], mode: CleanupMode = .boot) -> [OracleFailure] {
        let world = WorldGenerator(allowed: []).world(seed: 1)
        var quiet = QuietCase(world: world, planTransform: nil, applyTransform: nil)
        var dryReport = Report(root: world.layout.root, toolchains: .none, dryRun: true, mode: mode)
        dryReport.diagnostics = dry
        var appliedReport = Report(root: world.layout.root, toolchains: .none, dryRun: false, mode: mode)
        appliedReport.diagnostics = applied
        quiet.checkDryRun(dryReport, against: appliedReport, end: Layout())
        return quiet.outcome.failures
    }

    static let kept = Diagnostic(path: root + "/v/m/x", level: .warning, message: "unknown entry, kept")
    static let refusal = Diagnostic(
        path: root + "/v/m/m-1", level: .error, message: "unable to delete subvolume",
        cause: "mount point inside: /build/machines/v/m/m-1/mnt")

    @Test("the same lines, in any order: no failure")
    func sameLines() {
        let other = Diagnostic(path: Self.root + "/v/n", level: .info, message: "machine removed")
        #expect(Self.failures(dry: [Self.kept, other], applied: [other, Self.kept]) == [])
    }

    @Test("a line the run does not print, or prints fewer times, fails the oracle")
    func missingLine() {
        #expect(Self.failures(dry: [Self.kept], applied: []).map(\.oracle) == [.dryRun])
        #expect(Self.failures(dry: [Self.kept, Self.kept], applied: [Self.kept]).map(\.oracle) == [.dryRun])
    }

    @Test("lines are compared field by field, byte for byte")
    func fieldsByBytes() {
        var composed = Self.kept
        composed.path = Self.root + "/v/m/caf\u{E9}"
        var decomposed = Self.kept
        decomposed.path = Self.root + "/v/m/cafe\u{301}"
        #expect(Self.failures(dry: [composed], applied: [decomposed]).map(\.oracle) == [.dryRun])
        var caused = Self.kept
        caused.cause = "why"
        #expect(Self.failures(dry: [caused], applied: [Self.kept]).map(\.oracle) == [.dryRun])
        var message = Self.kept
        message.message = "unknown entry, kept for now"
        #expect(Self.failures(dry: [message], applied: [Self.kept]).map(\.oracle) == [.dryRun])
        var level = Self.kept
        level.level = .error
        #expect(Self.failures(dry: [level], applied: [Self.kept]).map(\.oracle) == [.dryRun])
    }

    @Test("at boot, a refusal for a mount the dry run did not print fails the oracle; in live mode it is not looked for")
    func unforeseenMount() {
        let failures = Self.failures(dry: [], applied: [Self.refusal])
        #expect(failures.map(\.oracle) == [.dryRun])
        #expect(failures.first?.message.contains("did not foresee") == true)
        #expect(Self.failures(dry: [Self.refusal], applied: [Self.refusal]) == [])
        #expect(Self.failures(dry: [], applied: [Self.refusal], mode: .live) == [])
        // Another error on the same subvolume is not a refusal for a mount.
        var failed = Self.refusal
        failed.cause = "Operation not permitted"
        #expect(Self.failures(dry: [], applied: [failed]) == [])
    }
}

/// The branch counts: a report's reasons, outcomes, actions and status,
/// named `kind:code`, summed by `merge`.
@Suite("Branch coverage")
struct BranchCoverageTests {
    static func report() async throws -> Report {
        let layout = try Layout.parse(
            """
            subvol v/m/m-1 ro
            link   v/m/m -> m-1
            subvol v/m/m-1-agent-x
            file   v/m/odd
            """)
        let host = try SimulatedHost(layout: layout)
        return await CleanupRun(fileSystem: host.spawn(.root), root: layout.root, toolchains: .none).run().report
    }

    @Test("a report's branches are counted by name, merges add, equality is by the counts")
    func counts() async throws {
        let report = try await Self.report()
        var coverage = BranchCoverage()
        coverage.record(report)
        let counts = coverage.counts
        #expect(counts["status:" + report.status.rawValue] == 1)
        for decision in report.decisions {
            #expect(counts["reason:" + decision.item.reason.code, default: 0] > 0)
            #expect(counts["outcome:" + decision.outcome.code, default: 0] > 0)
            #expect(counts["action:" + decision.item.action.rawValue, default: 0] > 0)
        }
        #expect(counts.filter { $0.key.hasPrefix("action:") }.values.reduce(0, +) == report.decisions.count)
        #expect(counts.keys.allSatisfy { BranchCoverage.branches.contains($0) })

        var twice = coverage
        twice.merge(coverage)
        twice.hit("configuration:refused")
        #expect(twice.counts == counts.mapValues { $0 * 2 }.merging(["configuration:refused": 1]) { $0 + $1 })
        #expect(twice != coverage)
        var again = BranchCoverage()
        again.record(report)
        #expect(again == coverage)
        #expect(!coverage.unreached.contains("status:" + report.status.rawValue))
        #expect(BranchCoverage().unreached.count == BranchCoverage.branches.count)
    }
}
