import ArgumentParser
import Commands
import Foundation
import MachineLayout
import Simulation

struct ScenarioCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scenario",
        abstract: "Replay concurrency scenarios on the simulated btrfs.",
        subcommands: [ScenarioRunCommand.self]
    )

    /// No command: a usage error, as for the tool itself.
    func run() async throws {
        StandardError.write("buildos-clean-dev: error: no command given: give run (see scenario --help)\n")
        throw ExitCode(64)
    }
}

struct ScenarioRunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run scenario files: explore their interleavings and check the invariants.",
        discussion: """
            Each scenario (a YAML file, see docs/scenarios.md) gives a machines tree, the actors on it \
            (the real cleanup code, build agents, the administrator, scripts), faults (process and host \
            crashes, injected errors), a strategy and what must come out. Every protocol call is one \
            step; the strategy chooses which actor takes each step: random (seeded), pct (random \
            priorities with change points), exhaustive (every schedule up to a preemption bound), or \
            replay (a recorded schedule). The invariants of SPEC §6 are checked after every step and at \
            the end. For each scenario it prints pass or FAIL, the schedules and steps explored, and each \
            violation with its seed, its schedule and its shortest trace. With --save DIR it writes a \
            replay file into DIR for each violation the scenario does not expect; without it, it writes \
            nothing. The same seed gives the same runs, byte for byte (apart from the time taken).

            Exit status: 0 every scenario came out as expected; 1 some did not; 64 bad arguments or \
            scenario files; 66 a file cannot be read; 73 a replay file cannot be written.
            """
    )

    @Argument(help: "Scenario files.")
    var files: [String]

    @Option(parsing: .unconditional, help: "The base seed (default: the scenario's, else 1), decimal or 0x-hexadecimal.")
    var seed: FuzzSeed?

    @Option(help: "random, pct, exhaustive or replay (default: the scenario's, else random).")
    var strategy: StrategyName?

    @Option(parsing: .unconditional, help: "How many schedules to run (exhaustive: at most), 1 to 1000000.")
    var schedules: Int?

    @Option(help: "Output format.")
    var format: CleanupCommand.OutputFormat = .text

    @Option(
        name: .customLong("save"),
        help: ArgumentHelp(
            "Write a replay file into this directory for each violation the scenario does not expect "
                + "(default: write none).",
            valueName: "dir"))
    var saveDirectory: String?

    @Flag(help: "Print the trace of the first schedule of each scenario.")
    var trace = false

    @Flag(name: .customLong("end-state"), help: "Print the end state of the first schedule of each scenario.")
    var endState = false

    func validate() throws {
        if format == .json, trace || endState {
            throw ValidationError(
                "--trace and --end-state print text: with --format json they would be dropped; drop them, "
                    + "or print text")
        }
        if let schedules, !ScenarioLimits.schedules.contains(schedules) {
            let range = ScenarioLimits.schedules
            throw ValidationError("--schedules must be \(range.lowerBound) to \(range.upperBound), not \(schedules)")
        }
        if let saveDirectory {
            guard !saveDirectory.isEmpty else { throw ValidationError("--save needs a directory") }
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: saveDirectory, isDirectory: &isDirectory), !isDirectory.boolValue {
                throw ValidationError("--save '\(saveDirectory)' is not a directory")
            }
        }
    }

    /// Reads and checks every file before running any: a bad file among
    /// several is refused before any output or replay file.
    func run() throws {
        let explorers = try files.map { file in (file, try explorer(for: file)) }
        var documents: [ResultDocument] = []
        var allPassed = true
        var unsaved = false
        var saved: Set<String> = []
        for (file, explorer) in explorers {
            let result: ScenarioResult
            do throws(ScenarioError) {
                result = try explorer.run()
            } catch {
                throw fail("\(file):\(error.line.map { "\($0):" } ?? "") \(error.message)", .usage)
            }
            allPassed = allPassed && result.passed
            if let saveDirectory {
                for found in result.violations where !result.expectedViolations.contains(found.violation.invariant) {
                    if !writeReplay(explorer.compiled, found, file: file, into: saveDirectory, besides: &saved) {
                        unsaved = true
                    }
                }
            }
            switch format {
            case .text:
                // Each line one line, whatever a scenario's names hold.
                func lines(_ text: String, indent: String = "") -> String {
                    text.split(separator: "\n", omittingEmptySubsequences: false)
                        .map { indent + Diagnostic.escapingControlCharacters(String($0)) }.joined(separator: "\n")
                }
                print(lines(result.text))
                // A machine command that did not finish lets the scenario
                // pass: said, so that a misspelt machine is seen.
                if explorer.compiled.scenario.actors.contains(where: { $0.kind == .command }),
                    let failed = try? explorer.failedCommands()
                {
                    for line in failed { print(lines("  note: first schedule: " + line)) }
                }
                if trace, let text = try? explorer.trace() {
                    print("  trace of the first schedule:")
                    print(lines(text.hasSuffix("\n") ? String(text.dropLast()) : text, indent: "    "))
                }
                if endState, let layout = try? explorer.endState() {
                    print("  end state of the first schedule:")
                    print(lines(layout.hasSuffix("\n") ? String(layout.dropLast()) : layout, indent: "    "))
                }
            case .json:
                documents.append(result.document)
            }
        }
        if format == .json { print(ResultDocument.json(documents)) }
        if unsaved { throw ExitCode(73) }
        if !allPassed { throw ExitStatus.halted.code }
    }

    /// A file read, checked and set up for exploring with the command
    /// line's overrides; errors as `FILE:LINE: message`.
    func explorer(for file: String) throws -> Explorer {
        let text = try InputFileErrors.text(of: file)
        do throws(ScenarioError) {
            let compiled = try CompiledScenario.load(yaml: text)
            let options = try ExplorationOptions(compiled.scenario, strategy: strategy, seed: seed?.value, schedules: schedules)
            return Explorer(compiled, options: options)
        } catch {
            throw fail("\(file):\(error.line.map { "\($0):" } ?? "") \(error.message)", .usage)
        }
    }

    func fail(_ message: String, _ status: ExitStatus) -> ExitCode { InputFileErrors.fail(message, status) }

    /// Writes the replay file of a violation the scenario did not expect;
    /// false when it cannot (the run then exits 73). Two scenarios of one
    /// run with the same file name (`a/x.yaml`, `b/x.yaml`) do not write
    /// over each other's file: the second is `x-invariant-N-2.yaml`.
    func writeReplay(
        _ compiled: CompiledScenario, _ found: FoundViolation, file: String, into directory: String,
        besides saved: inout Set<String>
    ) -> Bool {
        let stem = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        let base = directory + "/\(stem)-invariant-\(found.violation.invariant)"
        var path = base + ".yaml"
        var copy = 1
        while saved.contains(path) {
            copy += 1
            path = base + "-\(copy).yaml"
        }
        saved.insert(path)
        do throws(SavedFile.Failure) {
            try SavedFile.write(compiled.replayFile(for: found), to: path, in: directory)
            FileHandle.standardError.write(Data("buildos-clean: replay file \(path)\n".utf8))
            return true
        } catch {
            SavedFile.report(error.message)
            return false
        }
    }
}

extension StrategyName: ExpressibleByArgument {}
