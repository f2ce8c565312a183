import ArgumentParser
import Commands
import Foundation
import Fuzzing
import MachineLayout
import RealFS
import SimFS
import Simulation

struct FuzzCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fuzz",
        abstract: "Throw generated machine trees, actors and faults at the cleanup and check every oracle.",
        discussion: """
            Each case is a world drawn from the seed: first which features it uses and how densely \
            (swarm testing: odd, unicode, 255-byte and non-UTF-8 names, later-layout names, dot-entries, symbolic \
            links anywhere, plain directories, files and FIFOs, lock files, nested subvolumes, read-only and \
            received subvolumes, mounts, broken or missing links, empty directories, invalid toolchain \
            configurations, injected errors, races between the scan and the deletions, live mode with \
            held locks, agents, machine commands and crashes), then the tree and what runs on it. Each \
            case is judged by the invariants of SPEC §6, a second statement of the keep rules, the dry \
            run against the run, and a second run that must change nothing. The first failure of each \
            oracle is shrunk to a smallest case, written with --save DIR as a scenario file that \
            `scenario run` replays. The same seed draws the same cases, byte for byte; `--print-case N` \
            prints case N without running it.

            With --layout FILE every case starts from the tree of that layout file (an operator's odd \
            tree, say) instead of a drawn one; the seed draws what surrounds it (the toolchain \
            configuration, from the toolchains its names hold, the mode, injected errors, races, held \
            locks, names that are not UTF-8, agents, machine commands and crashes), and a failure shrinks \
            to the smallest part of that tree that still fails.

            With --real DIR (a directory on a btrfs mount, as root) each tree is built there and cleaned \
            by the real backend, and the end state and the lines are compared with the simulated btrfs \
            on the same tree; any difference is a failure. Its worlds are those the protocol can build \
            (no mounts, faults, races, actors or names that are not UTF-8): give --real to --print-case \
            too, to draw one of them again.

            Progress goes to standard error: one updating line on a terminal, a line every ten seconds \
            otherwise. The report goes to standard output, as text or JSON.

            Exit status: 0 no case failed; 1 some case failed; 64 bad arguments; 73 a case file cannot \
            be written.
            """
    )

    @Option(help: "The seed every case is drawn from, decimal or 0x-hexadecimal.")
    var seed: FuzzSeed = FuzzSeed(value: 1)

    @Option(parsing: .unconditional, help: "How many cases to run (default: 1000 unless --time is given).")
    var cases: Int?

    @Option(
        help: ArgumentHelp(
            "How long to run instead (at least one case): seconds, or a decimal number with s, m or h; at most a week.",
            valueName: "duration"))
    var time: FuzzDuration?

    @Option(
        name: .customLong("save"),
        help: ArgumentHelp("Write each shrunk failing case into this directory as a scenario file.", valueName: "dir"))
    var saveDirectory: String?

    @Option(help: "Output format.")
    var format: CleanupCommand.OutputFormat = .text

    @Option(
        name: .customLong("real"),
        help: ArgumentHelp(
            "Build each tree in this directory on a btrfs mount and compare the real backend with the simulated one.",
            valueName: "dir"))
    var realDirectory: String?

    @Option(
        name: .customLong("layout"),
        help: ArgumentHelp(
            "Start every case from the tree of this layout file instead of drawing one.", valueName: "file"))
    var baseLayout: String?

    @Flag(name: .customLong("no-shrink"), help: "Report failures as drawn, without shrinking them.")
    var noShrink = false

    @Option(
        name: .customLong("print-case"), parsing: .unconditional,
        help: ArgumentHelp("Print case N of the seed as a scenario file, without running anything.", valueName: "n"))
    var printCase: Int?

    func validate() throws {
        if cases != nil, time != nil { throw ValidationError("give --cases or --time, not both") }
        if let cases, !(1...100_000_000).contains(cases) {
            throw ValidationError("--cases must be 1 to 100000000, not \(cases)")
        }
        if let printCase, printCase < 0 { throw ValidationError("--print-case must be 0 or more, not \(printCase)") }
        if printCase != nil {
            // It prints one case as a scenario file (YAML) and runs nothing.
            let ignored = [
                ("--cases", cases != nil), ("--time", time != nil), ("--save", saveDirectory != nil),
                ("--no-shrink", noShrink), ("--format json", format == .json),
            ].filter(\.1).map(\.0)
            if !ignored.isEmpty {
                throw ValidationError(
                    "--print-case prints one case as a scenario file and runs nothing: "
                        + "\(ignored.joined(separator: ", ")) does not apply")
            }
        }
        for (option, directory) in [("--save", saveDirectory), ("--real", realDirectory)] {
            guard let directory else { continue }
            guard !directory.isEmpty else { throw ValidationError("\(option) needs a directory") }
            var isDirectory: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory)
            if exists, !isDirectory.boolValue { throw ValidationError("\(option) '\(directory)' is not a directory") }
            if option == "--real", !exists { throw ValidationError("--real '\(directory)' does not exist") }
        }
        if baseLayout != nil, realDirectory != nil {
            // A given tree may hold what the protocol cannot make on the
            // real side (mounts, FIFOs, modes, a default subvolume).
            throw ValidationError("--layout and --real do not go together: the differential mode draws its own trees")
        }
        if let realDirectory, !realDirectory.hasPrefix("/") {
            throw ValidationError("--real needs an absolute path, not '\(realDirectory)'")
        }
        if realDirectory != nil, printCase == nil, geteuid() != 0 {
            throw ValidationError("--real needs root: it deletes subvolumes, as the boot cleanup does")
        }
        // Elsewhere every tree would fail to build, and each case would
        // read as a difference between the backends.
        if let realDirectory, printCase == nil, RealFileSystem.isOnBtrfs(path: realDirectory) == false {
            throw ValidationError("--real '\(realDirectory)' is not on a btrfs filesystem")
        }
    }

    func run() async throws {
        var session = FuzzSession(seed: seed.value)
        if let realDirectory {
            session.generator = .buildable
            session.runner.realDirectory = realDirectory
        }
        if let baseLayout { session.generator = WorldGenerator(base: try Self.tree(of: baseLayout)) }
        session.shrinks = !noShrink
        if let printCase {
            let world = session.generator.world(seed: WorldGenerator.caseSeed(seed.value, printCase))
            let scenario = world.scenario(oracle: nil, message: nil)
            var comments = [
                "Case \(printCase) of seed \(FuzzWorld.hex(seed.value)), drawn by buildos-clean-dev fuzz"
                    + (baseLayout.map { " around the tree of \($0)." } ?? ".")
            ]
            // A case whose toolchain configuration the cleanup refuses can
            // be one `scenario run` refuses too: the file says so.
            do throws(ScenarioError) {
                _ = try CompiledScenario.load(yaml: scenario.fileText(comments: comments))
            } catch {
                comments.append(
                    "scenario run refuses this file (exit 64: \(error.message)): the case draws a\n"
                        + "configuration that the cleanup refuses as well, and that refusal is its outcome.")
            }
            print(scenario.fileText(comments: comments), terminator: "")
            return
        }
        let budget: FuzzSession.Budget = time.map { .seconds($0.seconds) } ?? .cases(cases ?? 1000)
        var progress = FuzzProgress(terminal: isatty(2) == 1)
        let summary = await session.run(budget) { progress.update($0) }
        progress.finish(summary)
        var written: [Int: String] = [:]
        if let saveDirectory {
            for (index, finding) in summary.findings.enumerated() {
                let path = saveDirectory + "/fuzz-\(FuzzWorld.hex(seed.value))-\(finding.failure.oracle.rawValue).yaml"
                do throws(SavedFile.Failure) {
                    let file = finding.scenarioFile(
                        runSeed: seed.value, drawnWith: baseLayout.map { "--layout \(Self.quoted($0)) " } ?? "")
                    try SavedFile.write(file, to: path, in: saveDirectory)
                    written[index] = path
                } catch {
                    SavedFile.report(error.message)
                    throw ExitCode(73)
                }
            }
        }
        var report = FuzzReport(seed: seed.value, summary: summary, files: written)
        report.layout = baseLayout
        switch format {
        case .text: print(report.text)
        case .json: print(report.json)
        }
        if summary.failedCases > 0 { throw ExitStatus.halted.code }
    }
}

extension FuzzCommand {
    /// The tree a layout file describes, as SimFS holds it once built (a
    /// snapshot's copied entries written out, each entry's attributes as
    /// read back): what every case starts from. Errors as the other
    /// commands give a layout's: `FILE:LINE: message`, exit 64 (66 when it
    /// cannot be read), before any case runs.
    static func tree(of file: String) throws -> Layout {
        let text = try InputFileErrors.text(of: file, what: "layout")
        let layout: Layout
        do throws(LayoutError) {
            layout = try Layout.parse(text)
        } catch {
            throw InputFileErrors.fail(InputFileErrors.message(error, in: file), .usage)
        }
        // What the fuzzer's oracles do not model: refused rather than
        // judged wrongly.
        for (index, entry) in layout.entries.enumerated() where entry.isDefault {
            let line = layout.sourceLine(ofEntry: index).map { "\($0):" } ?? ""
            throw InputFileErrors.fail(
                "\(file):\(line) \(entry.path): a default subvolume, which root cannot delete (EPERM): "
                    + "the oracles do not model it; take `default` off to fuzz this tree", .usage)
        }
        do throws(SetupError) {
            // The root's tree as built; entries outside it (`tmpfs
            // /var/lock`, a tree links lead to) as written, before it.
            var tree = try SimulatedHost(layout: layout).layout(root: layout.root)
            tree.entries = layout.entries.filter { $0.path.startsWithBytes("/") } + tree.entries
            _ = try SimulatedHost(layout: tree)
            return tree
        } catch {
            throw InputFileErrors.fail(InputFileErrors.message(error, in: file), .usage)
        }
    }

    /// A path as a shell reads it back: quoted unless it is plain.
    static func quoted(_ path: String) -> String {
        let plain = !path.isEmpty && path.utf8.allSatisfy { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || "/._-+,:@".utf8.contains(byte)
        }
        return plain ? path : "'" + path.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

/// A seed on the command line: decimal digits, or `0x` and hexadecimal
/// digits; no sign (which `UInt64(_:)` would take), as in a scenario file.
struct FuzzSeed: ExpressibleByArgument {
    var value: UInt64

    init(value: UInt64) { self.value = value }

    init?(argument: String) {
        let hexadecimal = argument.hasPrefix("0x")
        let digits = hexadecimal ? argument.dropFirst(2) : Substring(argument)
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 != UInt8(ascii: "+") && $0 != UInt8(ascii: "-") }),
            let parsed = UInt64(digits, radix: hexadecimal ? 16 : 10)
        else { return nil }
        value = parsed
    }

    var defaultValueDescription: String { "\(value)" }
}

/// A duration on the command line: `90`, `90s`, `5m`, `1.5h`: decimal
/// digits with at most one point (no sign, exponent or `0x`, which
/// `Double` would take), more than 0 and at most a week.
struct FuzzDuration: ExpressibleByArgument {
    var seconds: Double

    init?(argument: String) {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600]
        var text = argument
        var unit = 1.0
        if let last = text.last, let factor = units[last] {
            unit = factor
            text.removeLast()
        }
        let digits = text.utf8.filter { $0 != UInt8(ascii: ".") }
        guard !digits.isEmpty, text.utf8.count - digits.count <= 1,
            digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
            let number = Double(text), number.isFinite, number > 0, number * unit <= 7 * 86_400
        else { return nil }
        seconds = number * unit
    }
}
