import FSProtocol
import MachineLayout
import Logging

/// A cleanup of a machines root: scan, plan, apply, report.
///
/// In boot mode it keeps the boot contract of Build OS: it runs before any
/// build agent starts, so every working snapshot and lock file it finds is
/// stale. In live mode it deletes an agent's entries only while it holds
/// that agent's machine lock.
public struct CleanupRun: Sendable {
    public let fileSystem: any FileSystem
    /// The machines root, absolute (`/build/machines` on Build OS).
    public let root: String
    public let toolchains: ToolchainSet
    public let mode: CleanupMode
    public let logger: Logger
    /// Only this part of the root (`machine remove` cleans one machine).
    public let scope: ScanScope?

    public init(
        fileSystem: any FileSystem, root: String, toolchains: ToolchainSet, mode: CleanupMode = .boot,
        logger: Logger = Logger(label: "buildos-clean.cleanup"), scope: ScanScope? = nil
    ) {
        self.fileSystem = fileSystem
        self.root = root
        self.toolchains = toolchains
        self.mode = mode
        self.logger = logger
        self.scope = scope
    }

    /// Scans the tree and plans; the error is the root's.
    public func plan() async -> Result<Plan, FSError> {
        do throws(FSError) {
            let scan = try await Scanner(fileSystem: fileSystem, scope: scope).scan(rootPath: root)
            return .success(Planner(toolchains: toolchains).plan(scan))
        } catch {
            return .failure(error)
        }
    }

    /// Plans and, unless `dryRun`, carries the plan out.
    public func run(dryRun: Bool = false) async -> (plan: Plan?, report: Report) {
        switch await plan() {
        case .failure(let error):
            var report = Report(root: root, toolchains: toolchains, dryRun: dryRun, mode: mode)
            report.add(
                Diagnostic(
                    path: EntryPath.displayed(root: root), level: .error, message: "unable to open machines root",
                    cause: error.cause))
            return (nil, report)
        case .success(let plan):
            logger.debug("planned", metadata: ["items": "\(plan.items.count)"])
            let applier = Applier(fileSystem: fileSystem, mode: mode, logger: logger)
            let report = dryRun ? await applier.checkedDryRun(plan) : await applier.apply(plan)
            return (plan, report)
        }
    }
}
