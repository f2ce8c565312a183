import FSProtocol
import MachineLayout

/// What happened to a planned entry.
public enum Outcome: Hashable, Sendable {
    /// A dry run: the action was not carried out.
    case planned
    /// Nothing was to be done.
    case kept
    /// Its diagnostic was reported; the entry stays.
    case reported
    /// The subvolume is deleted, after the nested ones listed (paths
    /// relative to it).
    case deleted(nested: [String])
    /// The lock file or the machine directory is removed.
    case removed
    /// It was gone before the cleanup got to it.
    case vanished
    /// It is no longer what the scan saw (another entry under its name):
    /// kept.
    case changed
    /// The action failed.
    case failed(FSError)
    /// The action was refused: something is mounted inside.
    case refused(mountPoints: [String])
    /// Live mode: an agent holds the lock of this toolchain; kept for now.
    case locked(Toolchain?)
}

extension Outcome {
    /// A stable code for scripts (the `outcome` of the JSON report).
    public var code: String {
        switch self {
        case .planned: "planned"
        case .kept: "kept"
        case .reported: "reported"
        case .deleted: "deleted"
        case .removed: "removed"
        case .vanished: "vanished"
        case .changed: "changed"
        case .failed: "failed"
        case .refused: "refused"
        case .locked: "locked"
        }
    }

    /// Every code an outcome can have, for coverage counts.
    public static let allCodes = [
        "planned", "kept", "reported", "deleted", "removed", "vanished", "changed", "failed", "refused", "locked",
    ]
}

/// A plan item with its outcome.
public struct Decision: Hashable, Sendable {
    public var item: PlanItem
    public var outcome: Outcome

    public init(item: PlanItem, outcome: Outcome) {
        self.item = item
        self.outcome = outcome
    }
}

/// The result of a cleanup run (or of a dry run): every decision and its
/// outcome, and the diagnostic lines in the original's order.
public struct Report: Hashable, Sendable {
    public var root: String
    public var toolchains: ToolchainSet
    public var dryRun: Bool
    public var mode: CleanupMode
    public var decisions: [Decision] = []
    public var diagnostics: [Diagnostic] = []
    /// The volumes whose filesystem was synced after deletions.
    public var syncedVolumes: [EntryName] = []

    public init(root: String, toolchains: ToolchainSet, dryRun: Bool, mode: CleanupMode = .boot) {
        self.root = root
        self.toolchains = toolchains
        self.dryRun = dryRun
        self.mode = mode
    }

    /// How the run ended, which decides the summary and the exit status.
    public enum Status: String, Hashable, Sendable, Codable {
        /// Nothing to report: no line, exit 0.
        case clean
        /// Entries were cleaned up (warnings may be among the lines).
        case cleaned
        /// Only warnings: unexpected entries were kept.
        case warnings
        /// Something failed: the host halts (exit 1) so that no build
        /// agent starts on a host in an unknown state.
        case halted
    }

    public var status: Status {
        if diagnostics.isEmpty { return .clean }
        if diagnostics.contains(where: { $0.level == .error }) { return .halted }
        if diagnostics.contains(where: { $0.level == .info }) { return .cleaned }
        return .warnings
    }

    /// The root as the summary names it, with its trailing slash.
    var rootWithSlash: String { EntryPath.trimmingTrailingSlashes(root) + "/" }

    /// The summary line (the mail subject of the original), nil when there
    /// is nothing to report.
    public var summary: String? {
        switch status {
        case .clean: nil
        case .cleaned: "cleaned up entries in \(rootWithSlash)"
        case .warnings: "unexpected entries in \(rootWithSlash), kept"
        case .halted: "invalid entries in \(rootWithSlash), halting"
        }
    }

    /// The line printed after the diagnostics when the host halts.
    public static let haltAdvice = "correct and restart the monitor (systemctl restart buildos)"

    /// 0, or 1 when the host must halt.
    public var exitStatus: Int32 { status == .halted ? 1 : 0 }

    mutating func add(_ item: PlanItem, _ outcome: Outcome) {
        decisions.append(Decision(item: item, outcome: outcome))
    }

    mutating func add(_ diagnostic: Diagnostic) {
        diagnostics.append(diagnostic)
    }
}
