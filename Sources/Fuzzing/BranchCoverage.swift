import Cleanup

/// How often each classification and decision branch of the cleanup was
/// reached: each reason code, each outcome, each planned action, each
/// end status, and the refusal of a configuration.
public struct BranchCoverage: Hashable, Sendable {
    /// The counts by branch name.
    public var counts: [String: Int] {
        var counts = others
        for (kind, table) in [("reason:", reasons), ("outcome:", outcomes), ("action:", actions), ("status:", statuses)] {
            for (code, count) in table { counts[kind + code, default: 0] += count }
        }
        return counts
    }

    // A report's branches counted by their codes, named when read: a case
    // records three reports, and this is on its path.
    private var reasons: [String: Int] = [:]
    private var outcomes: [String: Int] = [:]
    private var actions: [String: Int] = [:]
    private var statuses: [String: Int] = [:]
    private var others: [String: Int] = [:]

    public init() {}

    public static func == (lhs: BranchCoverage, rhs: BranchCoverage) -> Bool { lhs.counts == rhs.counts }

    public func hash(into hasher: inout Hasher) { hasher.combine(counts) }

    /// Every branch there is, by name (`reason:CODE`, `outcome:CODE`,
    /// `action:ACTION`, `status:STATUS`, `configuration:refused`).
    public static let branches: [String] =
        Reason.allCodes.map { "reason:" + $0 } + Outcome.allCodes.map { "outcome:" + $0 }
        + ["keep", "delete-subvolume", "remove-lock-file", "remove-temporary-link", "delete-machine-directory", "report"]
        .map { "action:" + $0 }
        + ["clean", "cleaned", "warnings", "halted"].map { "status:" + $0 } + ["configuration:refused"]

    /// Branches no generator can reach, with why: reported as such, not as
    /// unreached. (None: names that are not UTF-8 are drawn too.)
    public static let unreachable: [String: String] = [:]

    public mutating func hit(_ branch: String, _ times: Int = 1) { others[branch, default: 0] += times }

    public mutating func record(_ report: Report) {
        for decision in report.decisions {
            reasons[decision.item.reason.code, default: 0] += 1
            outcomes[decision.outcome.code, default: 0] += 1
            actions[decision.item.action.rawValue, default: 0] += 1
        }
        statuses[report.status.rawValue, default: 0] += 1
    }

    public mutating func merge(_ other: BranchCoverage) {
        for (code, count) in other.reasons { reasons[code, default: 0] += count }
        for (code, count) in other.outcomes { outcomes[code, default: 0] += count }
        for (code, count) in other.actions { actions[code, default: 0] += count }
        for (code, count) in other.statuses { statuses[code, default: 0] += count }
        for (branch, count) in other.others { others[branch, default: 0] += count }
    }

    /// The branches never reached, unreachable ones aside.
    public var unreached: [String] {
        let counts = counts
        return BranchCoverage.branches.filter { counts[$0, default: 0] == 0 && BranchCoverage.unreachable[$0] == nil }
    }

    /// How many of the reachable branches were reached.
    public var reached: Int { BranchCoverage.branches.count - BranchCoverage.unreachable.count - unreached.count }
    public var reachable: Int { BranchCoverage.branches.count - BranchCoverage.unreachable.count }
}
