#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
import FSProtocol
import MachineLayout

/// The JSON document of a run, for scripts: every decision with its reason
/// and outcome, and every diagnostic line. Keys are sorted; the shape is
/// versioned by `version`.
public struct ReportDocument: Codable, Hashable, Sendable {
    public var version = 1
    public var root: String
    public var toolchains: [String]
    public var dryRun: Bool
    public var status: Report.Status
    public var exitStatus: Int32
    /// The changes the plan holds (subvolumes and machine directories to
    /// delete, lock files and temporary links to remove): in a dry run
    /// the status tells only the lines found, so this is how a script
    /// learns that the run would change something.
    public var plannedChanges: Int
    public var summary: String?
    public var decisions: [DecisionDocument]
    public var diagnostics: [DiagnosticDocument]
    public var syncedVolumes: [String]
    public var mode: CleanupMode

    public struct DecisionDocument: Codable, Hashable, Sendable {
        public var path: String
        public var volume: String
        public var machine: String?
        public var entry: String?
        public var kind: EntryKind
        public var action: PlannedAction
        public var reason: String
        public var reasonText: String
        public var outcome: String
        public var nested: [String]?
        public var error: ErrorDocument?
        public var mountPoints: [String]?
        /// Live mode: the toolchain whose lock was busy (`*`: some lock of
        /// the machine).
        public var lockedBy: String?
    }

    public struct ErrorDocument: Codable, Hashable, Sendable {
        public var errno: Int32
        public var symbol: String
        public var message: String
    }

    public struct DiagnosticDocument: Codable, Hashable, Sendable {
        public var path: String
        public var level: Diagnostic.Level
        public var message: String
        public var cause: String?
        public var line: String
    }

    public init(_ report: Report) {
        root = report.root
        toolchains = report.toolchains.toolchains.map(\.rawValue)
        dryRun = report.dryRun
        mode = report.mode
        status = report.status
        exitStatus = report.exitStatus
        plannedChanges = report.decisions.count { $0.item.action != .keep && $0.item.action != .report }
        summary = report.summary
        syncedVolumes = report.syncedVolumes.map(\.rawValue)
        diagnostics = report.diagnostics.map {
            DiagnosticDocument(path: $0.path, level: $0.level, message: $0.message, cause: $0.cause, line: $0.line)
        }
        decisions = report.decisions.map { decision in
            let item = decision.item
            var document = DecisionDocument(
                path: item.path.rendered(root: report.root), volume: item.path.volume.rawValue,
                machine: item.path.machine?.rawValue, entry: item.path.entry?.rawValue, kind: item.kind,
                action: item.action, reason: item.reason.code, reasonText: item.reason.text, outcome: "")
            document.outcome = decision.outcome.code
            switch decision.outcome {
            case .deleted(let nested):
                if !nested.isEmpty { document.nested = nested }
            case .failed(let error):
                document.error = ErrorDocument(errno: error.kind.errno, symbol: error.kind.symbol, message: error.description)
            case .refused(let mountPoints):
                document.mountPoints = mountPoints
            case .locked(let toolchain):
                document.lockedBy = toolchain?.rawValue ?? "*"
            case .planned, .kept, .reported, .removed, .vanished, .changed:
                break
            }
            return document
        }
    }

    /// The document of a run refused before it had a report: the run's
    /// keys that are known, `status` `refused`, and the error (a stable
    /// code and the message printed on standard error).
    public static func refusalJSON(
        root: String, dryRun: Bool, mode: CleanupMode, code: String, message: String, status: Int32
    ) -> String {
        struct Refusal: Encodable {
            var version = 1
            var root: String
            var dryRun: Bool
            var mode: CleanupMode
            var status = "refused"
            var exitStatus: Int32
            var error: [String: String]
        }
        return encoded(
            Refusal(root: root, dryRun: dryRun, mode: mode, exitStatus: status, error: ["code": code, "message": message]))
    }

    /// The document as pretty-printed JSON with sorted keys.
    public var json: String { ReportDocument.encoded(self) }

    /// A document as every command prints it: pretty-printed JSON, keys
    /// sorted, slashes as they are.
    static func encoded(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(value) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}
