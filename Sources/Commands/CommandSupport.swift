import ArgumentParser
import Cleanup
import FSProtocol
import MachineLayout
import RealFS
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// What the commands share: errors on standard error, the backend, the
/// tool's lock, progress lines.
enum CommandSupport {
    /// Prints `buildos-clean: error: MESSAGE` and gives the exit code;
    /// `code` is the refusal's stable code in a JSON document (else one
    /// by the status).
    static func fail(_ message: String, _ status: Int32, code: String? = nil) -> ExitCode {
        // One line, whatever a name or an input put in the message.
        StandardError.write("buildos-clean: error: \(Diagnostic.escapingControlCharacters(message))\n")
        lastFailure.withLock { $0 = (message, status, code) }
        return ExitCode(status)
    }

    /// The stable code of a refusal's JSON document by its exit status,
    /// for a failure `fail` printed without a code of its own.
    static func refusalCode(_ status: Int32) -> String {
        switch status {
        case ExitStatus.usage.rawValue: "usage"
        case ExitStatus.noInput.rawValue: "unreadable-input"
        case AdministrationStatus.unavailable: "unavailable"
        case ExitStatus.busy.rawValue: "busy"
        default: "failed"
        }
    }

    /// The last failure `fail` printed, for a command that owes its
    /// caller a JSON document all the same.
    static let lastFailure = Mutex<(message: String, status: Int32, code: String?)?>(nil)

    /// The filesystem to run on, the root path in it, and the simulated
    /// tree when it is one (`--layout`, in the developers' executable).
    static func backend(layout: String?, root: String?) throws -> (any FileSystem, String, SimulatedTree?) {
        guard let layout else { return (RealFileSystem(), root ?? Layout.defaultRoot, nil) }
        guard let load = SimulatedTrees.current else {
            // The production executable: `main` handed a `--layout` it
            // saw to the developers' one before the arguments were read,
            // so here there is none to run (or it missed this spelling, and
            // the hand-over happens now); `handOver` says why not.
            let unavailable = DeveloperExecutable.handOver()
            throw fail(
                "--layout runs on a simulated tree, which only the developers' executable has: "
                    + "use \(DeveloperExecutable.name); \(unavailable)", 64)
        }
        let text = try readInput(layout, what: "layout")
        do {
            let tree = try load(text, layout, root)
            return (tree.fileSystem, tree.root, tree)
        } catch {
            throw fail(error.message, 64)
        }
    }

    static func readInput(_ path: String, what: String) throws -> String {
        do {
            return try InputFile.read(path)
        } catch {
            switch error {
            case .unreadable(let reason): throw fail("cannot read \(what) \(path): \(reason)", 66)
            case .malformed(let line, let reason):
                throw fail("\(path):\(line.map { "\($0):" } ?? "") \(what): \(reason)", 64)
            }
        }
    }

    /// The configured toolchains from `--toolchain`, `--kernel-cmdline`
    /// and `--no-toolchains`, or exit 64 naming what is wrong (a kernel
    /// command line's problem as `FILE:LINE: message`).
    static func toolchains(names: [String], kernelCommandLine path: String?, explicitlyNone: Bool) throws -> ToolchainSet {
        do {
            let commandLine = try path.map { try readInput($0, what: "kernel command line") }
            if let path, let commandLine {
                do throws(KernelCommandLine.Problem) {
                    _ = try KernelCommandLine.parse(commandLine)
                } catch {
                    throw fail("\(path):\(error.line): \(error.message)", 64)
                }
            }
            return try ToolchainSet.resolve(names: names, kernelCommandLine: commandLine, explicitlyNone: explicitlyNone)
        } catch let error as ConfigurationError {
            throw fail(error.message, 64)
        }
    }

    /// Checks a `--root` value.
    static func validate(root: String?) throws {
        guard let root else { return }
        guard root.startsWithBytes("/") else { throw ValidationError("--root needs an absolute path, not '\(root)'") }
        // `/` (or `//`): every directory of the host would be a volume or a
        // machine; a script's `--root "$ROOT/"` with ROOT unset must not
        // clean the whole filesystem.
        if EntryName.components(of: root).isEmpty {
            throw ValidationError("--root '\(root)' is the root directory: give the machines root (such as /build/machines)")
        }
        if let problem = Layout.pathProblem(root) { throw ValidationError("--root '\(root)': \(problem)") }
    }

    /// Checks a number of seconds to wait.
    static func validate(seconds: Double, option: String) throws {
        guard seconds.isFinite, seconds >= 0, seconds <= 86_400 * 7 else {
            throw ValidationError("\(option) must be 0 to 604800 seconds, not \(seconds)")
        }
    }
}

/// Progress lines on standard error while a command waits: one line
/// rewritten in place on a terminal, plain lines otherwise (when what it
/// waits for changes, and every ten seconds).
final class ProgressLine: Sendable {
    private let isTerminal: Bool
    private let write: @Sendable (String) -> Void
    private struct State {
        var last = ""
        var lastPlainLine = -10
        var lines = 0
        var shown = false
    }
    private let state = Mutex(State())

    /// `isTerminal` and `write` are for tests: by default, whether
    /// standard error is a terminal, and a write to it.
    init(isTerminal: Bool = isatty(2) == 1, write: @escaping @Sendable (String) -> Void = { StandardError.write($0) }) {
        self.isTerminal = isTerminal
        self.write = write
    }

    func show(_ text: String) {
        // One line, whatever a name in it holds.
        let line = Diagnostic.escapingControlCharacters(text)
        if isTerminal {
            state.withLock { $0.shown = true }
            write("\r\u{1B}[K" + line)
            return
        }
        // The elapsed seconds end the line: compare what comes before.
        let stem = line.split(separator: ":").dropLast().joined(separator: ":")
        let due = state.withLock { state -> Bool in
            state.lines += 1
            guard stem != state.last || state.lines - state.lastPlainLine >= 10 else { return false }
            state.last = stem
            state.lastPlainLine = state.lines
            return true
        }
        if due { write(line + "\n") }
    }

    /// Ends a line rewritten in place.
    func finish() {
        if state.withLock({ state in defer { state.shown = false }; return state.shown }) {
            write("\n")
        }
    }
}
