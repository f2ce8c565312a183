import FSProtocol
import Foundation
@testable import Fuzzing
import MachineLayout
import Testing
import TestSupport

/// The differential mode on a real btrfs: generated trees built, cleaned
/// and read back on the real backend and on SimFS end alike; a planted
/// SimFS bug is caught and shrinks; every case tree is removed.
@Suite(
    "Differential mode on a real btrfs",
    .enabled(if: realBackendRuns, Comment(rawValue: RealBackendAvailability.problem ?? "")), .serialized)
struct DifferentialTests {
    /// The seed CI's differential step uses too (`.ci/run`).
    static let seed: UInt64 = 0x6469_6666

    @Test("40 trees from a fixed seed: no difference, every branch the trees can reach reached, nothing left behind")
    func fixedSeed() async throws {
        try requireRealBackend()
        try await withRealDirectory { directory throws in
            var session = FuzzSession(
                seed: Self.seed, generator: .buildable, runner: CaseRunner(realDirectory: directory))
            session.shrinkBudget = 200
            let summary = await session.run(.cases(40))
            #expect(summary.cases == 40)
            #expect(summary.failedCases == 0, "\(summary.findings.map { "\($0.failure)\n\($0.shrunk.layout.text)" })")
            for branch in [
                "outcome:deleted", "outcome:removed", "outcome:reported", "reason:stale-working-snapshot",
                "reason:received-image", "reason:not-subvolume", "status:halted", "status:cleaned",
            ] {
                #expect(summary.coverage.counts[branch, default: 0] > 0, "\(branch) never reached")
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == [])
        }
    }

    @Test("a read-only stray holding nested subvolumes, a received image and odd links: the same on both")
    func nestedAndReceived() async throws {
        try requireRealBackend()
        try await withRealDirectory { directory throws in
            let layout = try Layout.parse(
                """
                dir    default/m
                subvol default/m/m-1 ro received
                subvol default/m/m-2 ro
                link   default/m/m -> m-2
                subvol default/m/m-default-1-1 ro
                subvol default/m/m-default-1-1/a ro
                subvol default/m/m-default-1-1/a/deeper
                dir    default/m/m-default-1-1/d
                subvol default/m/m-default-1-1/d/inner
                file   default/m/m-default-1-1/d/inner/data
                subvol default/m/m-3.received ro received
                link   default/m/m-latest -> /srv/outside/image
                file   default/m/m-default.lock
                link   default/m/m.link-1 -> m-1
                dir    default/gone
                subvol default/gone/gone-1 ro
                subvol default/gone/gone-default-7-7 ro
                subvol default/gone/gone-default-7-7/inner ro
                """)
            var world = FuzzWorld(seed: 1, layout: layout)
            world.toolchains = ["default"]
            let outcome = await CaseRunner(realDirectory: directory).run(world)
            #expect(outcome.failures == [])
            #expect(outcome.coverage.counts["outcome:deleted", default: 0] > 0)
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == [])
        }
    }

    @Test("a planted SimFS bug (deletes by id refused) is a difference, and shrinks to one stray")
    func plantedBugIsCaught() async throws {
        try requireRealBackend()
        try await withRealDirectory { directory throws in
            let planted = CallFault(operation: .deleteSubvolumeByID, path: "/", error: .busy, count: 1_000)
            let runner = CaseRunner(realDirectory: directory, simulatedFaults: [planted])
            var session = FuzzSession(seed: Self.seed, generator: .buildable, runner: runner)
            session.shrinkBudget = 300
            let summary = await session.run(.cases(10))
            #expect(summary.failuresByOracle[.differential, default: 0] > 0)
            let finding = try #require(summary.findings.first { $0.failure.oracle == .differential })
            // What is left: a subvolume the cleanup deletes, in a machine
            // directory, and at most a link and a volume around it.
            #expect(finding.shrunk.layout.entries.count <= 4, "\(finding.shrunk.layout.text)")
            #expect(finding.shrunk.layout.entries.contains { $0.kind == .subvol })
            // The real tree loses the subvolume, the simulated one keeps it
            // with a line the real run does not print.
            let failures = await runner.run(finding.shrunk).failures.map(\.message)
            #expect(failures.contains { $0.hasPrefix("the end states differ: real only [], simulated only [") })
            #expect(failures.contains { $0.hasPrefix("the diagnostic lines differ: ") && $0.contains("(EBUSY)") })
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == [])
        }
    }

    @Test("a refused configuration: nothing built, nothing compared, counted as refused")
    func refusedConfiguration() async throws {
        try requireRealBackend()
        try await withRealDirectory { directory throws in
            var world = FuzzWorld(seed: 1, layout: try Layout.parse("subvol default/m/m-default-1-1"))
            world.toolchains = ["a-b"]
            let outcome = await CaseRunner(realDirectory: directory).run(world)
            #expect(outcome.failures == [])
            #expect(outcome.coverage.counts == ["configuration:refused": 1])
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == [])
        }
    }

    @Test("a real directory that is not there: every case fails, saying so")
    func missingDirectory() async throws {
        try requireRealBackend()
        let directory = RealBackendAvailability.mountPoint + "/missing-\(getpid())"
        let world = FuzzWorld(seed: 1, layout: try Layout.parse("dir default/m"))
        let outcome = await CaseRunner(realDirectory: directory).run(world)
        #expect(
            outcome.failures == [
                OracleFailure(.differential, "cannot make a case directory in \(directory): no such file or directory (ENOENT)")
            ])
    }

    /// A fresh directory on the test mount, removed afterwards.
    func withRealDirectory(_ body: (String) async throws -> Void) async throws {
        let directory = RealBackendAvailability.mountPoint + "/differential-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        do {
            try await body(directory)
        } catch {
            await TreeRemoval.remove(directory, with: RealFileSystemForTests.make())
            throw error
        }
        await TreeRemoval.remove(directory, with: RealFileSystemForTests.make())
    }
}

/// The comparison itself, without a real btrfs: one entry changed, one
/// line missing, lines in another order.
@Suite("Differential comparison")
struct DifferentialComparisonTests {
    static let layout = """
        dir    default/m
        subvol default/m/m-1 ro received
        link   default/m/m -> m-1
        file   default/m/m-default.lock
        """

    @Test("identical trees and lines: no difference")
    func identical() throws {
        let layout = try Layout.parse(Self.layout)
        #expect(DifferentialCase.difference(real: layout, simulated: layout) == nil)
        #expect(DifferentialCase.difference(realLines: ["a: info: x"], simulatedLines: ["a: info: x"]) == nil)
    }

    @Test("one entry changed: its flag, its kind, its target, its owner")
    func oneEntryChanged() throws {
        let real = try Layout.parse(Self.layout)
        let changes: [(String, (inout LayoutEntry) -> Void)] = [
            ("subvol default/m/m-1 received", { $0.readOnly = false }),
            ("subvol default/m/m-1 ro", { $0.received = false }),
            ("dir default/m/m-1", { $0.kind = .dir; $0.readOnly = false; $0.received = false }),
            ("subvol default/m/m-1 ro received owner=1000:1000", { $0.owner = 1000; $0.group = 1000 }),
        ]
        for (line, change) in changes {
            var simulated = real
            change(&simulated.entries[1])
            #expect(
                DifferentialCase.difference(real: real, simulated: simulated)
                    == "real only [\"subvol default/m/m-1 ro received\"], simulated only [\"\(line)\"]")
        }
        var relinked = real
        relinked.entries[2].target = "m-2"
        #expect(
            DifferentialCase.difference(real: real, simulated: relinked)
                == "real only [\"link default/m/m -> m-1\"], simulated only [\"link default/m/m -> m-2\"]")
    }

    @Test("lines: one missing, or the same ones in another order")
    func lines() {
        let real = ["/r/v/m/m-x: info: deleted subvolume", "/r/v/m: info: deleted machine directory"]
        #expect(
            DifferentialCase.difference(realLines: real, simulatedLines: [real[1]])
                == "real only [\"/r/v/m/m-x: info: deleted subvolume\"], simulated only []")
        #expect(
            DifferentialCase.difference(realLines: real, simulatedLines: real.reversed())
                == "the same lines in another order, from line 1: real '/r/v/m/m-x: info: deleted subvolume', "
                + "simulated '/r/v/m: info: deleted machine directory'")
    }
}
