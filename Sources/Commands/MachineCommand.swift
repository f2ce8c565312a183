import ArgumentParser
import Cleanup
import FSProtocol
import MachineLayout
import Logging
import RealFS
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

struct MachineCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "machine",
        abstract: "Add, upgrade, remove and list build machines, safely beside running builds.",
        discussion: """
            The Build OS manual's procedures as commands: `add` receives a machine's first revision \
            from a btrfs send stream and links it last; `upgrade` receives the next revision and \
            switches the link atomically; `remove` removes the link, waits for the builds on the \
            machine to end, and deletes it; `list` shows what every machine holds. A crash at any \
            step, followed by the same command again or by a boot cleanup, converges \
            (docs/administration.md). The changing commands and the cleanup take buildos-clean's own \
            lock (/run/lock/buildos-clean.lock): one change at a time on a host.

            \(MachineExitStatus.table)
            """,
        subcommands: [MachineAddCommand.self, MachineUpgradeCommand.self, MachineRemoveCommand.self, MachineListCommand.self]
    )

    /// No command: a usage error, as for the tool itself.
    func run() async throws {
        throw CommandSupport.fail("no command given: give one of add, upgrade, remove or list (see machine --help)", 64)
    }
}

/// The exit statuses of the `machine` commands.
enum MachineExitStatus {
    static let table = """
        Exit status:
          0\tdone (or nothing to do: already added, already current)
          1\ta step failed; the command stopped there, and running it again finishes the job
          64\tbad arguments, input or state, found before anything was touched
          66\tthe stream or the layout cannot be read
          69\tbtrfs-progs (btrfs receive) is not installed
          74\tthe report could not be written to standard output (the command itself ran)
          75\tanother buildos-clean run holds the lock (see --wait)
          124\tremove: the builds did not end within --timeout (the link is removed; run it again)
        """
}

/// Where a command runs: the machines root, real or simulated (`cleanup`
/// and the machine commands take these alike).
struct TreeOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp("The machines root (default: /build/machines, or the layout's root).", valueName: "dir"),
        transform: TreeOptions.withoutTrailingSlashes)
    var root: String?

    /// A root as every output names it: a run of slashes as one, without
    /// trailing slashes (`/` itself stays).
    static func withoutTrailingSlashes(_ root: String) -> String {
        var bytes: [UInt8] = []
        for byte in root.utf8 where byte != UInt8(ascii: "/") || bytes.last != UInt8(ascii: "/") { bytes.append(byte) }
        let collapsed = String(decoding: bytes, as: UTF8.self)
        let trimmed = EntryPath.trimmingTrailingSlashes(collapsed)
        return trimmed.isEmpty && !root.isEmpty ? "/" : trimmed
    }

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Run on a simulated tree loaded from a layout file (buildos-clean-dev only).", valueName: "file"))
    var layout: String?

    func validate() throws {
        try CommandSupport.validate(root: root)
    }
}

/// Options every machine command takes.
struct MachineOptions: ParsableArguments {
    @OptionGroup var tree: TreeOptions
    var root: String? { tree.root }
    var layout: String? { tree.layout }

    @Flag(
        name: .customLong("print-layout"),
        help: "With --layout: print the tree afterwards, as a layout (with --format json, as the document's 'layout').")
    var printLayout = false

    @Option(name: .long, help: "Output format.")
    var format: CleanupCommand.OutputFormat = .text

    @Flag(name: .long, help: "Log every step to standard error.")
    var verbose = false

    func validate() throws {
        if printLayout, layout == nil { throw ValidationError("--print-layout needs --layout") }
    }
}

/// Options of the commands that change a machine.
struct ChangeOptions: ParsableArguments {
    @Flag(name: .customLong("dry-run"), help: "Print what it would do, step by step; change nothing, take no lock.")
    var dryRun = false

    @Option(
        name: .long, parsing: .unconditional,
        help: ArgumentHelp(
            "How long to wait for another buildos-clean run to release its lock, in seconds (0 to 604800, a week).",
            valueName: "seconds"))
    var wait: Double = 0

    func validate() throws {
        try CommandSupport.validate(seconds: wait, option: "--wait")
    }
}

/// Runs an administration command and prints its report.
struct MachineRun {
    let options: MachineOptions
    let change: ChangeOptions?

    /// Whether a report was printed: a command refused before it had one
    /// prints a document of its error with `--format json`, so that
    /// standard output always holds one.
    static let printedReport = Mutex(false)

    /// Runs a command's `run()`; with `--format json`, a refusal before
    /// the report (the machine argument, the owner, the stream, the
    /// machines root) prints its document.
    static func reporting(
        _ command: String, machine: String, options: MachineOptions, dryRun: Bool, _ body: () async throws -> Void
    ) async throws {
        try await reporting(options: options) { code, message, status in
            AdministrationReport.refusalJSON(
                command: command, machine: machine, root: options.root ?? Layout.defaultRoot, dryRun: dryRun,
                code: code, message: message, status: status)
        } body: {
            try await body()
        }
    }

    /// Runs `body`; with `--format json`, a refusal before any document
    /// was printed prints the one `refusal` writes (from the error's
    /// code, message and exit status).
    static func reporting(
        options: MachineOptions, refusal: (String, String, Int32) -> String, body: () async throws -> Void
    ) async throws {
        do {
            try await body()
        } catch {
            if options.format == .json, !printedReport.withLock({ $0 }),
                let failure = CommandSupport.lastFailure.withLock({ $0 })
            {
                print(
                    refusal(failure.code ?? CommandSupport.refusalCode(failure.status), failure.message, failure.status))
            }
            throw error
        }
    }

    func run(_ body: (Administration) async throws -> AdministrationReport) async throws {
        try await run({ () }, body: { administration, _ in try await body(administration) })
    }

    /// `run(_:)` with the checks of `add` and `upgrade` (`prepare`: the
    /// machine argument, the owner, the stream) made once the tree is
    /// there: a layout file that cannot be read or loaded is named before
    /// them, as the first input at fault (an unknown owner hid it). A real
    /// tree is not read here, so for it the order is the same as before.
    /// (`remove` and `list` check their machine argument when it is
    /// parsed, before any file.)
    func run<Prepared>(
        _ prepare: () throws -> Prepared, body: (Administration, Prepared) async throws -> AdministrationReport
    ) async throws {
        bootstrapLogging(verbose: options.verbose)
        let (fileSystem, root, tree) = try CommandSupport.backend(layout: options.layout, root: options.root)
        let prepared = try prepare()
        let progress = ProgressLine()
        // A simulated tree is this process's alone: no lock.
        let administration = Administration(
            fileSystem: fileSystem, root: root, lockWait: change?.wait ?? 0,
            lockDirectory: tree == nil ? ToolLock.directory : nil, progress: { progress.show($0) })
        let report = try await body(administration, prepared)
        progress.finish()
        MachineRun.printedReport.withLock { $0 = true }
        let layout = options.printLayout ? tree?.layoutText() : nil
        switch options.format {
        case .text:
            report.textLines.forEach { print($0) }
            if let layout { print(layout, terminator: "") }
        case .json:
            // The tree in the document: standard output stays one.
            print(report.json(layout: layout))
        }
        if let error = report.error { throw CommandSupport.fail(error.message, error.status) }
    }

    /// The machine argument, or exit 64.
    static func address(_ text: String) throws -> MachineAddress {
        do {
            return try MachineAddress(parsing: text)
        } catch {
            throw CommandSupport.fail(error.message, 64)
        }
    }
}

func bootstrapLogging(verbose: Bool) {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = verbose ? .debug : .warning
        return handler
    }
}

/// Options of the commands that receive a stream.
struct StreamOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The btrfs send stream of the revision (`-`: standard input), e.g. from `btrfs send m-1 | ssh host ...`.",
            valueName: "file"))
    var stream: String

    @Option(
        name: .long,
        help: ArgumentHelp(
            "The build user who owns the revision: a name or a numeric id, with an optional group.",
            valueName: "user[:group]"))
    var owner = "build"

    func validate() throws {
        if stream.isEmpty { throw ValidationError("--stream needs a file, or - for standard input") }
        _ = try OwnerSpecification(owner)
    }

    /// What `add` and `upgrade` check before anything else: the machine,
    /// the owner, btrfs-progs (for a real receive), and the stream's
    /// header (for a simulated tree, the whole stream).
    func prepare(_ machine: String, options: MachineOptions, change: ChangeOptions) throws
        -> (MachineAddress, Ownership, SendStream)
    {
        let address = try MachineRun.address(machine)
        let owner = try ownership()
        if options.layout == nil, !change.dryRun { try requireBtrfsProgs() }
        return (address, owner, try open(whole: options.layout != nil))
    }

    /// The owner as ids, or exit 64.
    func ownership() throws -> Ownership {
        do {
            return try OwnerSpecification(owner).resolve()
        } catch let error as ValidationError {
            throw CommandSupport.fail(error.message, 64)
        }
    }

    /// The stream, its header read and checked; for a simulated tree, all
    /// of it. Unreadable: exit 66; not a send stream: exit 64.
    func open(whole: Bool) throws -> SendStream {
        let name = stream == "-" ? "standard input" : stream
        let descriptor: Int32 = stream == "-" ? 0 : Glibc.open(stream, O_RDONLY | O_CLOEXEC)
        if descriptor < 0 {
            throw CommandSupport.fail("cannot read stream \(stream): \(String(cString: strerror(errno)))", 66)
        }
        do throws(StreamReadError) {
            return try StreamReader.header(from: descriptor, whole: whole)
        } catch {
            switch error {
            case .unreadable(let reason):
                throw CommandSupport.fail("cannot read stream \(name): \(reason)", 66)
            case .malformed(let problem):
                throw CommandSupport.fail("\(name): \(problem)", 64)
            }
        }
    }
}

/// `USER[:GROUP]`, by names or numeric ids.
struct OwnerSpecification {
    let user: String
    let group: String?

    init(_ text: String) throws {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard (1...2).contains(parts.count), parts.allSatisfy({ !$0.isEmpty }) else {
            throw ValidationError("--owner is USER or USER:GROUP (names or numeric ids), not '\(text)'")
        }
        user = parts[0]
        group = parts.count == 2 ? parts[1] : nil
    }

    /// The ids: a numeric part as it is, a name from the host's user and
    /// group databases; without a group, the user's primary group.
    func resolve() throws -> Ownership {
        let uid: UInt32
        var primaryGroup: UInt32?
        if let number = UInt32(user), number != UInt32.max {
            uid = number
            primaryGroup = getpwuid(number).map { $0.pointee.pw_gid }
        } else if let entry = getpwnam(user) {
            uid = entry.pointee.pw_uid
            primaryGroup = entry.pointee.pw_gid
        } else {
            throw ValidationError("unknown user '\(user)' on this host; give --owner UID:GID")
        }
        let gid: UInt32
        if let group {
            if let number = UInt32(group), number != UInt32.max {
                gid = number
            } else if let entry = getgrnam(group) {
                gid = entry.pointee.gr_gid
            } else {
                throw ValidationError("unknown group '\(group)' on this host; give --owner UID:GID")
            }
        } else {
            gid = primaryGroup ?? uid
        }
        return Ownership(user: uid, group: gid)
    }
}

struct MachineAddCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add a machine: receive its first revision from a full send stream, then link it.",
        discussion: """
            Receives the stream into VOLUME/NAME/ (its subvolume must be named NAME-<N>) as the \
            pristine image NAME-<N>.received, makes the revision NAME-<N> from it for the build user, \
            read-only, and creates the link NAME -> NAME-<N> last. Example, from another host:

              btrfs send /build/machines/default/m/m-1 | ssh host buildos-clean machine add default/m --stream -

            \(MachineExitStatus.table)
            """)

    @Argument(help: ArgumentHelp("The machine to add.", valueName: "volume/name"))
    var machine: String

    @OptionGroup var stream: StreamOptions
    @OptionGroup var change: ChangeOptions
    @OptionGroup var options: MachineOptions

    func run() async throws {
        try await MachineRun.reporting("add", machine: machine, options: options, dryRun: change.dryRun) {
            try await MachineRun(options: options, change: change).run {
                try stream.prepare(machine, options: options, change: change)
            } body: { administration, prepared in
                let (address, owner, input) = prepared
                return await administration.add(address, stream: input, owner: owner, dryRun: change.dryRun)
            }
        }
    }
}

struct MachineUpgradeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upgrade",
        abstract: "Upgrade a machine: receive its next revision, then switch the link atomically.",
        discussion: """
            Receives the stream (full, or incremental against the current revision: `btrfs send -p`) \
            as NAME-<N>.received and NAME-<N>, then switches the link through a fresh temporary link \
            renamed over it. With --remove-old, the revisions numbered below NAME-<N> and their images \
            go once the switch is committed.

            \(MachineExitStatus.table)
            """)

    @Argument(help: ArgumentHelp("The machine to upgrade.", valueName: "volume/name"))
    var machine: String

    @OptionGroup var stream: StreamOptions

    @Flag(name: .customLong("remove-old"), help: "Delete the older revisions once the switch is committed.")
    var removeOld = false

    @OptionGroup var change: ChangeOptions
    @OptionGroup var options: MachineOptions

    func run() async throws {
        try await MachineRun.reporting("upgrade", machine: machine, options: options, dryRun: change.dryRun) {
            try await MachineRun(options: options, change: change).run {
                try stream.prepare(machine, options: options, change: change)
            } body: { administration, prepared in
                let (address, owner, input) = prepared
                return await administration.upgrade(
                    address, stream: input, owner: owner, removeOld: removeOld, dryRun: change.dryRun)
            }
        }
    }
}

struct MachineRemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Remove a machine: its link first, then, once its builds end, everything else.",
        discussion: """
            Removes and commits the link (no agent takes the machine after that), waits until no \
            working snapshot remains and no agent holds a machine lock (a progress line on a \
            terminal), then deletes every subvolume, the lock files and the directory. Running it \
            again after a crash or a timeout finishes the job.

            \(MachineExitStatus.table)
            """)

    @Argument(help: ArgumentHelp("The machine to remove.", valueName: "volume/name"))
    var machine: String

    @Option(
        name: .long, parsing: .unconditional,
        help: ArgumentHelp(
            "How long to wait for the machine's builds to end, in seconds (0 to 604800, a week).", valueName: "seconds"))
    var timeout: Double = 3600

    @OptionGroup var change: ChangeOptions
    @OptionGroup var options: MachineOptions

    func validate() throws {
        try CommandSupport.validate(seconds: timeout, option: "--timeout")
    }

    func run() async throws {
        try await MachineRun.reporting("remove", machine: machine, options: options, dryRun: change.dryRun) {
            let address = try MachineRun.address(machine)
            try await MachineRun(options: options, change: change).run { administration in
                await administration.remove(address, timeout: timeout, dryRun: change.dryRun)
            }
        }
    }
}

struct MachineListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List every volume and machine: revisions, bootstrapped machines, builds, locks, problems.",
        discussion: """
            Read-only and lock-free: it takes no lock (an agent's lock is looked at, never taken). \
            Bootstrapped machines show whether they were made from the current revision; working \
            snapshots show the agent's pid and whether it runs; problems are the lines a boot \
            cleanup would print. With --toolchain, --kernel-cmdline or --no-toolchains the problems are \
            judged against that configuration, and each bootstrapped machine says whether its toolchain \
            is configured (one that is not, a boot cleanup deletes).
            """)

    @Argument(help: ArgumentHelp("A volume, or one machine.", valueName: "volume[/name]"))
    var scope: String?

    @Option(
        name: .customLong("toolchain"),
        help: ArgumentHelp("A configured toolchain (repeatable).", valueName: "name"))
    var toolchains: [String] = []

    @Option(
        name: .customLong("kernel-cmdline"),
        help: ArgumentHelp("Read the configured toolchains from a Build OS kernel command line.", valueName: "file"))
    var kernelCommandLine: String?

    @Flag(
        name: .customLong("no-toolchains"),
        help: "Judge against no configured toolchain, as cleanup --no-toolchains: no bootstrapped machine is configured.")
    var noToolchains = false

    @OptionGroup var options: MachineOptions

    func validate() throws {
        if options.printLayout { throw ValidationError("list changes nothing: --print-layout does not apply") }
    }

    func run() async throws {
        let root = options.root ?? Layout.defaultRoot
        try await MachineRun.reporting(options: options) { code, message, status in
            MachineListing.refusalJSON(root: root, code: code, message: message, status: status)
        } body: {
            try await list()
        }
    }

    func list() async throws {
        bootstrapLogging(verbose: options.verbose)
        var scanScope: ScanScope?
        if let scope {
            if scope.containsByte("/") {
                let address = try MachineRun.address(scope)
                scanScope = ScanScope(volume: address.volume, machine: address.machine)
            } else if let volume = EntryName(scope), !scope.startsWithBytes(".") {
                scanScope = ScanScope(volume: volume)
            } else {
                throw CommandSupport.fail("'\(scope)' is not a volume name", 64)
            }
        }
        var configured: ToolchainSet?
        if !toolchains.isEmpty || kernelCommandLine != nil || noToolchains {
            configured = try CommandSupport.toolchains(
                names: toolchains, kernelCommandLine: kernelCommandLine, explicitlyNone: noToolchains)
        }
        let (fileSystem, root, _) = try CommandSupport.backend(layout: options.layout, root: options.root)
        let listing: MachineListing
        do {
            listing = try await MachineListing.list(
                fileSystem: fileSystem, root: root, toolchains: configured, scope: scanScope)
        } catch where [.noEntry, .notDirectory].contains(error.kind) {
            // As for the other machine commands: a bad --root.
            throw CommandSupport.fail("no machines root \(root): \(error.cause)", 64, code: "no-root")
        } catch {
            throw CommandSupport.fail("unable to open machines root \(root): \(error.cause)", 1)
        }
        if let scope, let scanScope, listing.machines.isEmpty, listing.problems.isEmpty,
            await !Self.exists(scanScope, below: root, in: fileSystem)
        {
            // Nothing of that name: an empty listing would read as a
            // machine, or a volume, without problems.
            throw CommandSupport.fail(
                "no \(scanScope.machine == nil ? "volume" : "machine") \(scope) below \(root)", 64,
                code: scanScope.machine == nil ? "unknown-volume" : "no-such-machine")
        }
        switch options.format {
        case .text: listing.textLines.forEach { print($0) }
        case .json: print(listing.json)
        }
    }
}

extension MachineListCommand {
    /// Whether the volume, or the machine, of a scope is an entry below
    /// the root (of any kind).
    static func exists(_ scope: ScanScope, below root: String, in fileSystem: any FileSystem) async -> Bool {
        let found = try? await fileSystem.withRoot(root) { rootHandle throws(FSError) -> Bool in
            guard let machine = scope.machine else {
                _ = try await fileSystem.status(of: scope.volume, in: rootHandle)
                return true
            }
            return try await fileSystem.withDirectory(scope.volume, in: rootHandle) { volume throws(FSError) in
                _ = try await fileSystem.status(of: machine, in: volume)
                return true
            }
        }
        return found ?? false
    }
}

/// The real backend receives with btrfs-progs: without it, exit 69.
func requireBtrfsProgs() throws {
    if RealFileSystem.btrfsTool == nil {
        throw CommandSupport.fail(
            "btrfs receive needs btrfs-progs, which is not installed (Debian: apt-get install btrfs-progs)", 69)
    }
}
