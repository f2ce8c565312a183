import Foundation
import Simulation
import Testing
import TestSupport

/// `buildos-clean scenario run`, end to end.
@Suite("buildos-clean scenario run, end to end")
struct ScenarioCommandTests {
    let scenarios = Binary.packageRoot() + "/Scenarios/"

    func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "scenarios-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// The output without its timings, which differ between runs.
    func untimed(_ text: String) -> String {
        text.replacingOccurrences(of: #", [0-9]+\.[0-9]+ s"#, with: "", options: .regularExpression)
    }

    @Test("scenarios that come out as expected: pass lines, exit 0, no replay file for an expected violation")
    func passing() throws {
        let replays = try temporaryDirectory()
        let result = try Binary.run([
            "scenario", "run", scenarios + "toolchain-removed.yaml", scenarios + "upgrade-mv-without-t.yaml",
            "--save", replays,
        ])
        #expect(result.status == 0, "\(result.standardOutput)\(result.standardError)")
        let lines = result.outputLines
        #expect(lines.first?.hasPrefix("pass  a toolchain removed from the configuration: random, 1 schedules") == true)
        #expect(lines.contains { $0.hasPrefix("pass  the upgrade pitfall of mv without -T") })
        #expect(lines.contains("  expected violation of invariant 1: found"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: replays).isEmpty)
        #expect(!result.standardError.contains("replay file"))
    }

    /// A shipped scenario that expects its violation, changed to expect
    /// none: it fails. The file's path in `directory`.
    func contractBroken(in directory: String) throws -> String {
        let original = try String(contentsOfFile: scenarios + "boot-cleanup-while-agents-run.yaml", encoding: .utf8)
        let file = directory + "/contract-broken.yaml"
        try original.replacingOccurrences(of: "expect:\n  violation: 2", with: "expect:\n  invariants: hold")
            .write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    @Test("a scenario that breaks an invariant it should hold fails with exit 1, its seed, schedule and trace")
    func failing() throws {
        let directory = try temporaryDirectory()
        let file = try contractBroken(in: directory)
        let result = try Binary.run(["scenario", "run", file, "--schedules", "10", "--save", directory])
        #expect(result.status == 1)
        let output = result.standardOutput
        #expect(output.hasPrefix("FAIL  boot cleanup while agents run: random, 10 schedules"))
        #expect(output.contains("violation: invariant 2 (no subvolume a live agent or VM uses is deleted by anyone else)"))
        #expect(output.contains("    seed: "))
        #expect(output.contains("    schedule: r"))
        #expect(output.contains("deleteSubvolumeByID"))
        let replay = directory + "/contract-broken-invariant-2.yaml"
        #expect(result.standardError.contains("buildos-clean: replay file \(replay)"))
        let replayed = try Binary.run(["scenario", "run", replay])
        #expect(replayed.status == 0, "\(replayed.standardOutput)\(replayed.standardError)")
        #expect(replayed.outputLines.first?.contains("replay, 1 schedules") == true)
        #expect(replayed.outputLines.contains("  expected violation of invariant 2: found"))
    }

    @Test("a replay file that cannot be written: exit 73, a line naming the path and the reason")
    func replayNotWritten() throws {
        let file = try contractBroken(in: try temporaryDirectory())
        let result = try Binary.run(["scenario", "run", file, "--schedules", "10", "--save", "/proc/buildos-clean-x"])
        #expect(result.status == 73, "\(result.standardError)")
        #expect(result.standardError.contains("error: cannot make directory /proc/buildos-clean-x: No such file or directory"))
        #expect(!result.standardError.contains("Domain"), "\(result.standardError)")
        #expect(result.standardOutput.hasPrefix("FAIL  "))
    }

    @Test("replay files of one run do not overwrite each other when two scenarios share a file name; a file in --save's way is named")
    func replayFilesOfTwins() throws {
        let work = try temporaryDirectory()
        for directory in ["a", "b"] { try FileManager.default.createDirectory(atPath: work + "/" + directory, withIntermediateDirectories: true) }
        let first = try contractBroken(in: work + "/a")
        let second = try contractBroken(in: work + "/b")
        let result = try Binary.run(["scenario", "run", first, second, "--schedules", "10", "--save", work + "/saved"])
        #expect(result.status == 1)
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: work + "/saved").sorted() == [
                "contract-broken-invariant-2-2.yaml", "contract-broken-invariant-2.yaml",
            ])
        try "".write(toFile: work + "/file", atomically: true, encoding: .utf8)
        let blocked = try Binary.run(["scenario", "run", first, "--schedules", "10", "--save", work + "/file/saved"])
        #expect(blocked.status == 73)
        #expect(
            blocked.standardError.contains("error: cannot make directory \(work)/file/saved: Not a directory"),
            "\(blocked.standardError)")
    }

    @Test("a machine command that is refused lets the scenario pass, and says so: in a note and in the trace")
    func refusedCommandNoted() throws {
        let directory = try temporaryDirectory()
        let file = directory + "/misspelt.yaml"
        try """
        name: misspelt
        description: a remove of a machine that is not there
        layout: |
          subvol default/m/m-1 ro
          link   default/m/m -> m-1
        toolchains: [default]
        actors:
          - {name: remove, kind: command, command: remove, machine: default/mm}
        expect:
          invariants: hold

        """.write(toFile: file, atomically: true, encoding: .utf8)
        let result = try Binary.run(["scenario", "run", file, "--trace"])
        #expect(result.status == 0, "\(result.standardError)")
        let failure = "machine remove default/mm: failed (exit 64, no-such-machine): no machine default/mm"
        #expect(result.outputLines.contains { $0.hasPrefix("  note: first schedule: remove: " + failure) }, "\(result.outputLines)")
        #expect(result.outputLines.contains { $0.contains("remove  note: " + failure) }, "\(result.outputLines)")
        // A command that ran says nothing more.
        let done = try Binary.run(["scenario", "run", scenarios + "machine-add-host-crash.yaml"])
        #expect(done.status == 0)
        #expect(!done.standardOutput.contains("note: first schedule"), "\(done.standardOutput)")
    }

    @Test("a scenario's names cannot break its lines: control characters are escaped, in its report and its errors")
    func controlCharactersEscaped() throws {
        let directory = try temporaryDirectory()
        let original = try String(contentsOfFile: scenarios + "upgrade.yaml", encoding: .utf8)
        let named = directory + "/named.yaml"
        try original.replacingOccurrences(
            of: "name: ", with: #"name: "t\e[31m\nfake\r""# + "\nold-name: ", options: [], range: original.range(of: "name: ")
        ).write(toFile: named, atomically: true, encoding: .utf8)
        let result = try Binary.run(["scenario", "run", named])
        // The key is unknown: the error names it, on one line.
        let lines = result.standardError.split(separator: "\n")
        #expect(result.status == 64)
        #expect(lines.count == 1, "\(result.standardError)")
        let pass = directory + "/pass.yaml"
        let nameLine = try #require(original.split(separator: "\n").first { $0.hasPrefix("name: ") })
        try original.replacingOccurrences(of: String(nameLine), with: #"name: "t\e[31m\nfake\r""#)
            .write(toFile: pass, atomically: true, encoding: .utf8)
        let passed = try Binary.run(["scenario", "run", pass])
        #expect(passed.status == 0, "\(passed.standardError)")
        #expect(passed.outputLines.first?.hasPrefix("pass  t\\x1b[31m\\nfake\\r: ") == true, "\(passed.outputLines)")
        #expect(!passed.standardOutput.contains("\u{1B}"))
    }

    @Test(
        "a folded layout block, or a quoted one over several lines, is refused (folding joins its lines); a one-line quoted one's error names the line in the text"
    )
    func layoutStyles() throws {
        let directory = try temporaryDirectory()
        // A scenario whose layout (lines 3 to 6 of the file) holds a bad
        // kind on its last line, written in `style`.
        func scenario(_ name: String, layout style: String) throws -> String {
            let file = directory + "/\(name).yaml"
            try ("name: t\ndescription: d\nlayout: \(style)\ntoolchains: [default]\nactors:\n"
                + "  - {name: c, kind: cleanup}\nexpect: {invariants: hold}\n")
                .write(toFile: file, atomically: true, encoding: .utf8)
            return file
        }
        let refused = try Binary.run(["scenario", "run", try scenario("folded", layout: ">\n  volume v\n\n  bogus x")])
        #expect(refused.status == 64)
        #expect(refused.standardError.contains("folded.yaml:3: 'layout' is a folded block"), "\(refused.standardError)")
        let quoted = try Binary.run(["scenario", "run", try scenario("quoted", layout: "'volume v\n\n  bogus x'")])
        #expect(quoted.status == 64)
        #expect(
            quoted.standardError.contains("quoted.yaml:3: 'layout' is written over several lines without '|'"),
            "\(quoted.standardError)")
        let named = try Binary.run(["scenario", "run", try scenario("escaped", layout: "\"volume v\\nbogus x\"")])
        #expect(named.status == 64)
        #expect(named.standardError.contains("escaped.yaml:3: layout: unknown kind 'bogus'"), "\(named.standardError)")
        #expect(named.standardError.contains("(line 2 of the text)"), "\(named.standardError)")
    }

    @Test("the same seed prints the same report and trace, byte for byte")
    func determinism() throws {
        let arguments = [
            "scenario", "run", scenarios + "link-switched-during-snapshot.yaml", "--seed", "42", "--schedules", "20",
            "--trace",
        ]
        let first = try Binary.run(arguments)
        let second = try Binary.run(arguments)
        #expect(first.status == 0)
        #expect(untimed(first.standardOutput) == untimed(second.standardOutput))
        #expect(first.standardOutput.contains("  trace of the first schedule:"))
    }

    @Test("--format json prints one document per scenario")
    func json() throws {
        let result = try Binary.run([
            "scenario", "run", scenarios + "planted-bug.yaml", scenarios + "symlinks-kept.yaml", "--format", "json",
        ])
        #expect(result.status == 0)
        let documents = try JSONDecoder().decode([ResultDocument].self, from: Data(result.standardOutput.utf8))
        #expect(documents.map(\.passed) == [true, true])
        #expect(documents[0].expectedViolations == [2])
        #expect(documents[0].violations.first?.invariant == 2)
        #expect(documents[0].violations.first?.trace.isEmpty == false)
        #expect(documents[1].violations.isEmpty)
    }

    @Test("--strategy and --schedules override the file")
    func overrides() throws {
        let result = try Binary.run([
            "scenario", "run", scenarios + "planted-bug.yaml", "--strategy", "pct", "--schedules", "7",
        ])
        #expect(result.outputLines.first?.contains(": pct, 7 schedules") == true)
    }

    @Test("a file that is not a scenario exits 64; a missing one 66")
    func badFiles() throws {
        let directory = try temporaryDirectory()
        try "name: x\n".write(toFile: directory + "/bad.yaml", atomically: true, encoding: .utf8)
        let bad = try Binary.run(["scenario", "run", directory + "/bad.yaml"])
        #expect(bad.status == 64)
        #expect(bad.standardError.contains("bad.yaml:1: the scenario needs 'layout'"), "\(bad.standardError)")
        let missing = try Binary.run(["scenario", "run", directory + "/missing.yaml"])
        #expect(missing.status == 66)
        let usage = try Binary.run(["scenario", "run", directory + "/bad.yaml", "--schedules", "0"])
        #expect(usage.status == 64)
    }

    @Test("without --save nothing is written; with it, a replay file only for an unexpected violation, and it replays")
    func replayFilesOnlyWhereAsked() throws {
        let work = try temporaryDirectory()
        let original = try String(contentsOfFile: scenarios + "boot-cleanup-while-agents-run.yaml", encoding: .utf8)
        let unexpected = work + "-unexpected.yaml"
        try original.replacingOccurrences(of: "expect:\n  violation: 2", with: "expect:\n  invariants: hold")
            .write(toFile: unexpected, atomically: true, encoding: .utf8)
        let expected = scenarios + "boot-cleanup-while-agents-run.yaml"
        let plain = try Binary.run(
            ["scenario", "run", expected, unexpected, "--schedules", "10"], workingDirectory: work)
        #expect(plain.status == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: work).isEmpty)
        #expect(!plain.standardError.contains("replay file"))

        let saved = work + "/saved"
        let asked = try Binary.run(
            ["scenario", "run", expected, unexpected, "--schedules", "10", "--save", saved], workingDirectory: work)
        #expect(asked.status == 1)
        let stem = URL(fileURLWithPath: unexpected).deletingPathExtension().lastPathComponent
        #expect(try FileManager.default.contentsOfDirectory(atPath: saved) == ["\(stem)-invariant-2.yaml"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: work) == ["saved"])
        let replayed = try Binary.run(["scenario", "run", saved + "/\(stem)-invariant-2.yaml"], workingDirectory: work)
        #expect(replayed.status == 0, "\(replayed.standardOutput)\(replayed.standardError)")
        #expect(replayed.outputLines.first?.contains("replay, 1 schedules") == true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: work) == ["saved"])
    }
}
