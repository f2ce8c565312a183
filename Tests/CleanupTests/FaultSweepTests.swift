import Cleanup
import FSProtocol
import MachineLayout
import SimFS
import Testing
import TestSupport

/// Every protocol call a cleanup makes, failed in turn: whatever fails,
/// nothing the cleanup keeps is lost, no failure is silent, no descriptor
/// is left open, and the next run finishes the job.
@Suite("A failure at every call of the cleanup")
struct FaultSweepTests {
    /// One of each deletion and of each kind of kept entry, on two volumes.
    static let tree = """
        subvol default/m/m-1 ro received
        subvol default/m/m-2 ro
        link   default/m/m -> m-2
        link   default/m/m-latest -> m-2
        subvol default/m/m-default ro
        subvol default/m/m-old
        subvol default/m/m-default-1-1
        subvol default/m/m-default-2-1 ro
        subvol default/m/m-default-2-1/inner ro
        subvol default/m/m-default-2-1/inner/deeper
        dir    default/m/m-default-2-1/plain
        subvol default/m/m-default-2-1/plain/other
        file   default/m/m-default.lock
        subvol default/gone/gone-1 ro
        subvol default/gone/gone-default
        file   default/gone/gone-default.lock
        subvol fast/f/f-3 ro
        link   fast/f/f -> f-3
        subvol fast/f/f-default-9-9
        """

    /// The run without a fault: its end state and how many calls it makes.
    static func reference() async throws -> (end: Layout, calls: Int) {
        let host = try makeHost(tree)
        let cleaner = host.spawn()
        let gate = FailingGate(watching: cleaner.processID) { _, _ in nil }
        host.install(gate: gate)
        let report = await run(cleaner)
        host.install(gate: nil)
        #expect(report.exitStatus == 0)
        return (host.layout(), gate.callCount)
    }

    static func run(_ process: SimulatedProcess) async -> Report {
        await CleanupRun(fileSystem: process, root: Layout.defaultRoot, toolchains: ToolchainSet([.default])).run()
            .report
    }

    /// Whether `line` is the path of the current link `v/m/m` of the
    /// machine directory `v/m` holding `path`.
    static func isCurrentLink(_ line: String, of path: String) -> Bool {
        let parts = line.split(separator: "/")
        guard parts.count >= 2, parts[parts.count - 1] == parts[parts.count - 2] else { return false }
        return path.hasPrefix("/" + parts.dropLast().joined(separator: "/") + "/")
    }

    @Test(
        "each call failed in turn: kept entries stay, a change is reported, nothing is left open, a rerun converges",
        arguments: [FSError.Kind.ioError, .noEntry, .readOnly])
    func everyCall(kind: FSError.Kind) async throws {
        let (end, calls) = try await Self.reference()
        #expect(calls > 60)
        let kept = Set(end.entries)
        for index in 0..<calls {
            let host = try makeHost(Self.tree)
            let cleaner = host.spawn()
            let gate = FailingGate(watching: cleaner.processID) { _, call in call == index ? kind : nil }
            host.install(gate: gate)
            let report = await Self.run(cleaner)
            host.install(gate: nil)
            let failed = gate.failed.first.map(\.description) ?? "nothing"
            let after = host.layout()
            // Nothing the cleanup keeps is lost or changed (flags included).
            let lost = kept.subtracting(after.entries)
            #expect(lost.isEmpty, "failing call \(index) (\(failed)) lost \(lost.map(\.path))")
            // Whatever the run left that the reference did not is named by
            // a warning or an error (on it, on its machine, volume or root,
            // or on its machine's current link, which keeps the machine's
            // entries when in error), unless the failure said it was gone,
            // which the cleanup believes.
            if kind != .noEntry {
                let named = report.diagnostics.filter { $0.level != .info }.map(\.path)
                for leftover in Set(after.entries).subtracting(end.entries) {
                    let path = after.absolutePath(leftover.path)
                    #expect(
                        named.contains { path == $0 || path.hasPrefix($0 + "/") || Self.isCurrentLink($0, of: path) },
                        "failing call \(index) (\(failed)) left \(path) without a line: \(lines(report))")
                }
            }
            if report.diagnostics.contains(where: { $0.level == .error }) { #expect(report.exitStatus == 1) }
            #expect(host.openDescriptors(of: cleaner).isEmpty, "failing call \(index) (\(failed)) left descriptors open")
            // The next run finishes the job.
            let again = await Self.run(host.spawn())
            #expect(host.layout() == end, "after failing call \(index) (\(failed)) a second run did not converge")
            #expect(again.exitStatus == 0, "after failing call \(index) (\(failed)): \(lines(again))")
        }
    }
}
