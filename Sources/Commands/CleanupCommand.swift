import ArgumentParser
import Cleanup
import FSProtocol
import MachineLayout
import Logging
import RealFS

/// `buildos-clean cleanup`: the boot cleanup, on the real tree or a layout.
public struct CleanupCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "cleanup",
        abstract: "Delete stale working snapshots, bootstrapped machines of removed toolchains, and deleted machines.",
        discussion: """
            Runs the boot cleanup of Build OS on a machines root. For each volume and machine it \
            keeps the current link and its target, the revisions and the machines bootstrapped \
            for configured toolchains; it deletes working snapshots, machines bootstrapped for \
            toolchains no longer configured, and every subvolume of a machine whose current link \
            is gone, then that machine's directory; it removes stale lock files and reports \
            anything else without touching it. A machine without its link that still links to one \
            of its own subvolumes is a layout it does not recognise: everything of it is kept, with \
            an error. It never follows a symbolic link, never changes the read-only property of \
            anything it keeps, and syncs each volume once after its deletions.

            The boot contract: run it before any build agent starts. With --mode live it may run \
            beside agents: it takes each agent's machine lock before deleting that agent's entries, \
            and keeps them for a later run while an agent holds the lock.

            It runs on the real filesystem (--root, default /build/machines; deleting needs root). \
            With --layout FILE (in buildos-clean-dev, the developers' executable) it runs instead on a \
            simulated tree loaded from a layout file (see docs/layout-format.md), which nothing \
            outside this process sees.

            Output: nothing when there is nothing to report; otherwise the summary line, each \
            diagnostic indented by two spaces, and on failure the advice to restart the monitor. \
            --format json prints one document with every decision, reason and outcome.

            \(ExitStatus.table)
            """
    )

    @OptionGroup var tree: TreeOptions
    var root: String? { tree.root }
    var layout: String? { tree.layout }

    @Option(
        name: .customLong("toolchain"),
        help: ArgumentHelp("A configured toolchain; its bootstrapped machines are kept (repeatable).", valueName: "name"))
    var toolchains: [String] = []

    @Flag(name: .customLong("no-toolchains"), help: "Configure no toolchain: every bootstrapped machine is deleted.")
    var noToolchains = false

    @Option(
        name: .customLong("kernel-cmdline"),
        help: ArgumentHelp(
            "Read the toolchains from a Build OS kernel command line such as /proc/cmdline "
                + "(buildos.toolchain_url configures 'default', buildos.toolchain_url.<name> configures <name>).",
            valueName: "file"))
    var kernelCommandLine: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "boot: no agent runs, every working snapshot and lock file is stale (Build OS at boot); "
                + "live: delete an agent's entries only while holding its machine lock."))
    var mode: CleanupMode = .boot

    @Flag(name: .customLong("dry-run"), help: "Print the plan and the diagnostics it implies; change nothing.")
    var dryRun = false

    @Flag(name: .customLong("show-plan"), help: "Print the plan before carrying it out.")
    var showPlan = false

    @Option(name: .long, help: "Output format.")
    var format: OutputFormat = .text

    @Option(
        name: .long,
        help: ArgumentHelp(
            "When there are lines to report, run this shell command with the summary as its last argument "
                + "(as $1 when it ends in & ; | ) } fi done esac) and the lines on its standard input "
                + "(a failure is reported, the outcome stays).",
            valueName: "command"))
    var notify: String?

    @Option(
        name: .customLong("notify-timeout"), parsing: .unconditional,
        help: ArgumentHelp(
            "Seconds the notification command may run (1 to 3600, default 60); then its process group is killed "
                + "and a warning printed.",
            valueName: "seconds"))
    var notifyTimeout: Int?

    @Flag(name: .long, help: "Log every step to standard error.")
    var verbose = false

    @Option(
        name: .long, parsing: .unconditional,
        help: ArgumentHelp(
            "How long to wait for another buildos-clean run (a machine command) to release its lock, in seconds "
                + "(0 to 604800, a week).",
            valueName: "seconds"))
    var wait: Double = 0

    public init() {}

    public enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
        case text, json
    }
}

extension CleanupMode: ExpressibleByArgument {}

extension CleanupCommand {

    /// The notification command's time limit without `--notify-timeout`.
    static let defaultNotifyTimeout = 60

    public func validate() throws {
        if dryRun, showPlan { throw ValidationError("--dry-run already prints the plan; drop --show-plan") }
        if let notify, notify.allSatisfy(\.isWhitespace) { throw ValidationError("--notify needs a command") }
        if let notifyTimeout {
            guard notify != nil else { throw ValidationError("--notify-timeout needs --notify") }
            guard (1...3600).contains(notifyTimeout) else {
                throw ValidationError("--notify-timeout must be 1 to 3600 seconds, not \(notifyTimeout)")
            }
        }
        if notify != nil, dryRun { throw ValidationError("--dry-run notifies nobody; drop --notify") }
        try CommandSupport.validate(seconds: wait, option: "--wait")
    }

    public func run() async throws {
        let status: Int32
        do {
            status = try await runCleanup()
        } catch {
            // With --format json, standard output holds one document
            // always: a refusal before the report (no toolchain, an
            // unreadable kernel command line, the lock) prints its own.
            if format == .json, let failure = CommandSupport.lastFailure.withLock({ $0 }) {
                print(
                    ReportDocument.refusalJSON(
                        root: root ?? Layout.defaultRoot, dryRun: dryRun, mode: mode,
                        code: failure.code ?? CommandSupport.refusalCode(failure.status), message: failure.message,
                        status: failure.status))
            }
            throw error
        }
        // Past the report: nothing above prints a second document.
        if status != 0 { throw ExitStatus.halted.code }
    }

    /// Runs the cleanup and prints its report: the report's exit status.
    /// What it throws comes before any report.
    func runCleanup() async throws -> Int32 {
        let level: Logger.Level = verbose ? .debug : .warning
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let toolchainSet = try CommandSupport.toolchains(
            names: toolchains, kernelCommandLine: kernelCommandLine, explicitlyNone: noToolchains)
        let (fileSystem, rootPath) = try makeBackend()
        // One change at a time: the machine commands take the same lock
        // (a simulated tree is this process's alone: no lock).
        let lock = dryRun || layout != nil ? nil : try await takeLock(on: fileSystem, root: rootPath)
        let cleanup = CleanupRun(fileSystem: fileSystem, root: rootPath, toolchains: toolchainSet, mode: mode)
        let (plan, report) = await cleanup.run(dryRun: dryRun)
        await lock?.release()
        switch format {
        case .json:
            print(ReportDocument(report).json)
        case .text:
            if dryRun || showPlan, let plan {
                plan.textLines.forEach { print($0) }
                if !report.textLines.isEmpty { print() }
            }
            report.textLines.forEach { print($0) }
        }
        if let notify, !dryRun, let summary = report.summary {
            Notifier(command: notify, timeout: notifyTimeout ?? Self.defaultNotifyTimeout)
                .send(summary: Diagnostic.escapingControlCharacters(summary), body: report.notificationBody)
        }
        return report.exitStatus
    }

    /// buildos-clean's own lock, waited for up to `--wait`: exit 75 when
    /// another run keeps it.
    func takeLock(on fileSystem: any FileSystem, root: String) async throws -> ToolLock? {
        let progress = ProgressLine()
        let result = await ToolLock.take(
            for: root, on: fileSystem, wait: wait, clock: HostClock(),
            progress: { progress.show("waiting for another buildos-clean run to release its lock: \(Int($0)) s") })
        progress.finish()
        switch result {
        case .success(let lock): return lock
        case .failure(.busy(let waited)):
            let name = await ToolLock.fileName(for: root, on: fileSystem)
            throw CommandSupport.fail(
                "another buildos-clean run holds the lock \(ToolLock.directory)/\(name) "
                    + "(waited \(Int(waited)) s; see --wait)", 75)
        case .failure(.failed(let error)):
            let name = await ToolLock.fileName(for: root, on: fileSystem)
            throw CommandSupport.fail("unable to take the lock \(ToolLock.directory)/\(name): \(error.cause)", 1)
        }
    }

    /// The filesystem to run on and the root path within it.
    func makeBackend() throws -> (any FileSystem, String) {
        let (fileSystem, root, _) = try CommandSupport.backend(layout: layout, root: root)
        return (fileSystem, root)
    }

    func readInput(_ path: String, what: String) throws -> String {
        try CommandSupport.readInput(path, what: what)
    }

    func fail(_ message: String, _ status: ExitStatus) -> ExitCode {
        CommandSupport.fail(message, status.rawValue)
    }
}
