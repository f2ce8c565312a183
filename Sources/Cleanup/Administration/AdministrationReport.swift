#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
import FSProtocol
import MachineLayout

/// A machine named on the command line: `VOLUME/NAME`.
public struct MachineAddress: Hashable, Sendable, CustomStringConvertible {
    public var volume: EntryName
    public var machine: EntryName

    public init(volume: EntryName, machine: EntryName) {
        self.volume = volume
        self.machine = machine
    }

    /// Reads `VOLUME/NAME`; the error says what is wrong.
    public init(parsing text: String) throws(AdministrationError) {
        let parts = text.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).map { Substring($0) }
        guard parts.count == 2 else {
            throw .usage("'\(text)' is not VOLUME/NAME (one volume, one machine, one slash)")
        }
        guard let volume = EntryName(String(parts[0])), !volume.rawValue.startsWithBytes("."), parts[0].utf8.count <= 255
        else { throw .usage("'\(parts[0])' is not a volume name") }
        guard let machine = EntryName(String(parts[1])), MachineNaming.isMachineName(machine),
            parts[1].utf8.count <= MachineAddress.maximumMachineBytes
        else {
            throw .usage(
                "'\(parts[1])' is not a machine name (a name that does not start with '.' or '-', "
                    + "at most \(MachineAddress.maximumMachineBytes) bytes: room for its entries' suffixes)")
        }
        self.volume = volume
        self.machine = machine
    }

    public var description: String { "\(volume)/\(machine)" }

    /// A machine that `add` creates takes no control character (a line
    /// break, a tab, an escape) in its name or its volume's: every line
    /// and mail naming it would be ambiguous, and scripts reading names
    /// split on them. Machines made by hand with one are read, upgraded
    /// and removed all the same.
    func requireNewNames() throws(AdministrationError) {
        for (what, name) in [("volume", volume), ("machine", machine)] {
            let escaped = Diagnostic.escapingControlCharacters(name.rawValue)
            if escaped != name.rawValue {
                throw .usage(
                    "the \(what) name '\(escaped)' holds a control character; add makes no such name",
                    code: "control-character")
            }
        }
    }

    /// The longest machine name the commands take: its entries add at
    /// most 18 bytes to it within a name's 255, the longest being a
    /// switch's temporary link `<m>.link-<pid>-<n>` (a pid of up to 7
    /// digits, a counter of up to 4).
    public static let maximumMachineBytes = 255 - 18

    /// The machine directory's path below `root`.
    public func path(in root: String) -> String { EntryPath(volume: volume, machine: machine).rendered(root: root) }

    /// An entry's path in the machine directory.
    public func path(of entry: EntryName, in root: String) -> String {
        EntryPath(volume: volume, machine: machine, entry: entry).rendered(root: root)
    }
}

/// Why an administration command stopped, with its exit status.
public struct AdministrationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A stable code for scripts (`machine-exists`, `no-such-machine`, ...).
    public var code: String
    public var message: String
    public var status: Int32

    public init(code: String, _ message: String, status: Int32) {
        self.code = code
        self.message = message
        self.status = status
    }

    public var description: String { message }

    /// Bad arguments or input, found before anything was touched.
    public static func usage(_ message: String, code: String = "usage") -> AdministrationError {
        AdministrationError(code: code, message, status: 64)
    }

    /// A step failed: the command stopped where it was; running it again
    /// finishes the job.
    public static func failed(_ message: String) -> AdministrationError {
        AdministrationError(code: "failed", message, status: 1)
    }
}

/// The exit statuses of the administration commands.
public enum AdministrationStatus {
    public static let done: Int32 = 0
    public static let failed: Int32 = 1
    public static let usage: Int32 = 64
    public static let noInput: Int32 = 66
    /// btrfs-progs is missing.
    public static let unavailable: Int32 = 69
    /// Another buildos-clean run holds the lock.
    public static let busy: Int32 = 75
    /// `machine remove` waited its `--timeout` for builds to end.
    public static let timedOut: Int32 = 124
}

/// One step of an administration command: what it does, to what, and how
/// it went.
public struct AdministrationStep: Hashable, Sendable, Codable {
    public enum Action: String, Hashable, Sendable, Codable {
        case createDirectory = "create-directory"
        case changeOwner = "change-owner"
        case receive
        case rename
        case snapshot
        case setReadOnly = "set-read-only"
        case sync
        case createLink = "create-link"
        case switchLink = "switch-link"
        case removeLink = "remove-link"
        case removeTemporaryLink = "remove-temporary-link"
        case deleteSubvolume = "delete-subvolume"
        case wait
        case cleanMachine = "clean-machine"
        case removeDirectory = "remove-directory"
    }

    public enum Outcome: String, Hashable, Sendable, Codable {
        case planned, done, failed
    }

    public var action: Action
    /// The path acted on.
    public var path: String
    /// What else it takes: a link's target, an owner, a stream.
    public var detail: String?
    public var outcome: Outcome
    /// Why it failed.
    public var error: String?

    public init(_ action: Action, _ path: String, detail: String? = nil, outcome: Outcome = .planned) {
        self.action = action
        self.path = path
        self.detail = detail
        self.outcome = outcome
    }

    /// The step in words, for the text output.
    public var text: String {
        let verb: String =
            switch action {
            case .createDirectory: "create directory"
            case .changeOwner: "change owner of"
            case .receive: "receive"
            case .rename: "rename"
            case .snapshot: "snapshot"
            case .setReadOnly: "set read-only"
            case .sync: "sync the filesystem of"
            case .createLink: "create link"
            case .switchLink: "switch link"
            case .removeLink: "remove link"
            case .removeTemporaryLink: "remove temporary link"
            case .deleteSubvolume: "delete subvolume"
            case .wait: "wait for the builds of"
            case .cleanMachine: "delete the entries of"
            case .removeDirectory: "remove directory"
            }
        return [verb, path, detail].compactMap { $0 }.joined(separator: " ")
    }
}

/// What an administration command did, or would do.
public struct AdministrationReport: Hashable, Sendable {
    public var command: String
    public var machine: MachineAddress
    public var root: String
    public var dryRun: Bool
    public var steps: [AdministrationStep] = []
    public var error: AdministrationError?
    /// Lines worth saying beside the steps (`already added`, the cleanup's
    /// diagnostics while removing).
    public var notes: [String] = []

    public init(command: String, machine: MachineAddress, root: String, dryRun: Bool) {
        self.command = command
        self.machine = machine
        self.root = root
        self.dryRun = dryRun
    }

    public var exitStatus: Int32 { error?.status ?? 0 }

    /// The text output: one line for the command and its result, a line
    /// per step (`would` in a dry run), and the notes; the error goes to
    /// standard error, on its own.
    public var textLines: [String] {
        let result: String =
            if let error { "failed (exit \(error.status))" } else if dryRun { "dry run" } else { "done" }
        var lines = ["\(command) \(machine): \(result)"]
        for step in steps {
            let prefix: String =
                switch step.outcome {
                case .planned: dryRun ? "would " : "not done: "
                case .done: ""
                case .failed: "FAILED: "
                }
            lines.append("  " + prefix + step.text + (step.error.map { ": \($0)" } ?? ""))
        }
        lines += notes.map { "  " + $0 }
        // One line each, whatever the names hold (`Diagnostic.line`).
        return lines.map(Diagnostic.escapingControlCharacters)
    }

    /// The JSON document, for scripts (keys sorted).
    public var json: String { json(layout: nil) }

    /// The JSON document with the tree afterwards as a layout (`layout`,
    /// the developers' `--print-layout` on a simulated tree), inside it so
    /// that standard output stays one document.
    public func json(layout: String?) -> String {
        AdministrationReport.document(
            command: command, machine: machine.description, root: root, dryRun: dryRun,
            status: error == nil ? (dryRun ? "planned" : "done") : "failed", exitStatus: exitStatus, steps: steps,
            notes: notes, error: error.map { ($0.code, $0.message) }, layout: layout)
    }

    /// The document of a command refused before it had a report (a
    /// machine argument, an owner or a stream it cannot use): no steps.
    public static func refusalJSON(
        command: String, machine: String, root: String, dryRun: Bool, code: String, message: String, status: Int32
    ) -> String {
        document(
            command: command, machine: machine, root: root, dryRun: dryRun, status: "failed", exitStatus: status,
            steps: [], notes: [], error: (code, message))
    }

    static func document(
        command: String, machine: String, root: String, dryRun: Bool, status: String, exitStatus: Int32,
        steps: [AdministrationStep], notes: [String], error: (code: String, message: String)?, layout: String? = nil
    ) -> String {
        struct Document: Codable {
            var version = 1
            var command: String
            var machine: String
            var root: String
            var dryRun: Bool
            var status: String
            var exitStatus: Int32
            var steps: [AdministrationStep]
            var notes: [String]
            var error: ErrorDocument?
            var layout: String?
        }
        struct ErrorDocument: Codable {
            var code: String
            var message: String
        }
        let document = Document(
            command: command, machine: machine, root: root, dryRun: dryRun, status: status, exitStatus: exitStatus,
            steps: steps, notes: notes, error: error.map { ErrorDocument(code: $0.code, message: $0.message) },
            layout: layout)
        return ReportDocument.encoded(document)
    }
}

extension AdministrationReport {
    /// A byte count as progress lines write it: `512 KiB`, `37.4 MiB`,
    /// `2.1 GiB` (binary units, one decimal from MiB on).
    static func size(_ bytes: UInt64) -> String {
        let units = ["MiB", "GiB", "TiB"]
        if bytes < 1 << 20 { return "\(bytes >> 10) KiB" }
        var value = Double(bytes) / Double(1 << 20)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10) \(units[unit])"
    }
}
