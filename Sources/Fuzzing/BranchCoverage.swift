import Cleanup

/// How often each classification and decision branch of the cleanup was
/// reached: each reason code, each outcome, each planned action, each
/// end status, and the refusal of a configuration.
public struct BranchCoverage: Hashable, Sendable {
    public private(set) var counts: [String: Int] = [:]

    public init() {}

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

    public mutating func hit(_ branch: String, _ times: Int = 1) { counts[branch, default: 0] += times }

    public mutating func record(_ report: Report) {
        for decision in report.decisions {
            hit("reason:" + decision.item.reason.code)
            hit("outcome:" + decision.outcome.code)
            hit("action:" + decision.item.action.rawValue)
        }
        hit("status:" + report.status.rawValue)
    }

    public mutating func merge(_ other: BranchCoverage) {
        for (branch, count) in other.counts { hit(branch, count) }
    }

    /// The branches never reached, unreachable ones aside.
    public var unreached: [String] {
        BranchCoverage.branches.filter { counts[$0, default: 0] == 0 && BranchCoverage.unreachable[$0] == nil }
    }

    /// How many of the reachable branches were reached.
    public var reached: Int { BranchCoverage.branches.count - BranchCoverage.unreachable.count - unreached.count }
    public var reachable: Int { BranchCoverage.branches.count - BranchCoverage.unreachable.count }
}
