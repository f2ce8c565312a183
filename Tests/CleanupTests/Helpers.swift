import Cleanup
import FSProtocol
import MachineLayout
import SimFS
import Testing
import TestSupport

/// A host holding a layout written in the test.
func makeHost(_ layout: String) throws -> SimulatedHost {
    try SimulatedHost(layout: Layout.parse(layout))
}

/// Runs the boot cleanup as root on a host and returns its report.
func cleanup(
    _ host: SimulatedHost, toolchains: [String] = ["default"], as credentials: Credentials = .root,
    dryRun: Bool = false, root: String = Layout.defaultRoot
) async -> Report {
    let set = ToolchainSet(toolchains.compactMap { Toolchain(rawValue: $0) })
    return await CleanupRun(fileSystem: host.spawn(credentials), root: root, toolchains: set).run(dryRun: dryRun)
        .report
}

/// The diagnostic lines of a report.
func lines(_ report: Report) -> [String] { report.diagnostics.map(\.line) }

/// The names in a simulated directory; nil when there is no such
/// directory (so that `== []` means emptied, not gone).
func names(_ host: SimulatedHost, _ path: String) -> [String]? {
    host.names(at: path)?.map(\.rawValue)
}

let machine = "/build/machines/default/m"

/// Runs the cleanup as root with the calls `decide` picks failed with the
/// error it answers (a `FailingGate` on the cleaner's process only).
func cleanup(
    _ host: SimulatedHost, mode: CleanupMode = .boot, failing decide: @escaping FailingGate.Decide
) async -> Report {
    let cleaner = host.spawn()
    host.install(gate: FailingGate(watching: cleaner.processID, decide))
    defer { host.install(gate: nil) }
    return await CleanupRun(fileSystem: cleaner, root: Layout.defaultRoot, toolchains: ToolchainSet([.default]), mode: mode)
        .run().report
}
