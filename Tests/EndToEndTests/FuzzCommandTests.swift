import Foundation
import Testing
import TestSupport

/// `buildos-clean-dev fuzz`, end to end.
@Suite("buildos-clean-dev fuzz, end to end")
struct FuzzCommandTests {
    func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "fuzz-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test("a run: its report as JSON, exit 0, the progress on standard error only")
    func json() throws {
        let result = try Binary.run(["fuzz", "--seed", "0x2a", "--cases", "60", "--format", "json"])
        #expect(result.status == 0, "\(result.standardOutput)\(result.standardError)")
        let document = try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any]
        #expect(document?["seed"] as? String == "0x000000000000002a")
        #expect(document?["cases"] as? Int == 60)
        #expect(document?["failedCases"] as? Int == 0)
        #expect((document?["coverage"] as? [String: Int])?["reason:revision", default: 0] ?? 0 > 0)
        #expect(document?["neverReached"] is [String])
    }

    @Test("the text report names the seed, the cases and the coverage")
    func text() throws {
        let result = try Binary.run(["fuzz", "--seed", "42", "--cases", "30"])
        #expect(result.status == 0)
        #expect(result.outputLines.first?.hasPrefix("fuzz: seed 0x000000000000002a, 30 cases in ") == true)
        #expect(result.outputLines.contains { $0.hasPrefix("coverage: ") && $0.hasSuffix(" branches reached") })
    }

    @Test("on a terminal the progress is one line rewritten in place, cleared at the end")
    func terminalProgress() throws {
        // script(1) gives the command a pseudo-terminal; what it wrote
        // comes back on script's standard output.
        let command = "'\(Binary.path(of: .developer))' fuzz --seed 1 --time 2s --format json"
        let result = try Binary.run(["-qec", command, "/dev/null"], executable: .program("/usr/bin/script"))
        #expect(result.status == 0, "\(result.standardError)")
        let rewrite = "\r\u{1B}[K"
        let updates = result.standardOutput.components(separatedBy: rewrite + "fuzz: ").count - 1
        #expect(updates >= 2, "\(result.standardOutput.debugDescription)")
        // No progress line ends in a newline on a terminal.
        #expect(!result.standardOutput.contains("branches\n"), "\(result.standardOutput.debugDescription)")
        #expect(result.standardOutput.contains("\"cases\""))
    }

    @Test("--time runs for a while and stops")
    func time() throws {
        let result = try Binary.run(["fuzz", "--time", "1s", "--format", "json"])
        #expect(result.status == 0)
        let document = try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any]
        #expect((document?["cases"] as? Int ?? 0) > 0)
        #expect((document?["seconds"] as? Double ?? 0) >= 1)
        // A budget shorter than a case still runs one.
        let short = try Binary.run(["fuzz", "--time", "0.000001", "--format", "json"])
        let shortDocument = try JSONSerialization.jsonObject(with: Data(short.standardOutput.utf8)) as? [String: Any]
        #expect(shortDocument?["cases"] as? Int == 1, "\(short.standardOutput)")
    }

    @Test("--print-case draws the same case twice, and scenario run replays it")
    func printCase() throws {
        let first = try Binary.run(["fuzz", "--seed", "7", "--print-case", "12"])
        let second = try Binary.run(["fuzz", "--seed", "7", "--print-case", "12"])
        #expect(first.status == 0)
        #expect(first.standardOutput == second.standardOutput)
        #expect(first.standardOutput.hasPrefix("# Case 12 of seed 0x0000000000000007"))
        let other = try Binary.run(["fuzz", "--seed", "8", "--print-case", "12"])
        #expect(other.standardOutput != first.standardOutput)
        // Each case replays; one whose toolchain configuration is invalid
        // is refused as the command line would refuse it.
        let directory = try temporaryDirectory()
        var passed = 0
        for index in 0..<8 {
            let printed = try Binary.run(["fuzz", "--seed", "7", "--print-case", "\(index)"])
            let file = directory + "/case-\(index).yaml"
            try printed.standardOutput.write(toFile: file, atomically: true, encoding: .utf8)
            let replayed = try Binary.run(["scenario", "run", file])
            if replayed.status == 0 {
                #expect(replayed.outputLines.first?.hasPrefix("pass  fuzz case ") == true)
                passed += 1
            } else {
                #expect(replayed.status == 64, "\(replayed.standardOutput)\(replayed.standardError)")
                #expect(replayed.standardError.contains(": toolchains"), "\(replayed.standardError)")
            }
        }
        #expect(passed > 0)
    }

    @Test("a printed case whose racer changes the tree while the boot cleanup runs replays and passes")
    func printedRaceReplays() throws {
        // Case 253 of seed 3: a script deletes a revision and unlinks the
        // current link beside the cleanup, and finishes first. Invariant 6
        // (only expected entries remain) is not the boot cleanup's to keep
        // after another actor changed the tree beside it.
        let printed = try Binary.run(["fuzz", "--seed", "3", "--print-case", "253"])
        #expect(printed.standardOutput.contains("kind: script"))
        let file = try temporaryDirectory() + "/case-253.yaml"
        try printed.standardOutput.write(toFile: file, atomically: true, encoding: .utf8)
        let replayed = try Binary.run(["scenario", "run", file])
        #expect(replayed.status == 0, "\(replayed.standardOutput)")
    }

    @Test("--print-case marks a case whose file scenario run refuses (its configuration), and only such a case")
    func printedCaseRefused() throws {
        // Case 28 of seed 1 draws the toolchain "-x", which the cleanup
        // and the scenario reader refuse.
        let refused = try Binary.run(["fuzz", "--seed", "1", "--print-case", "28"])
        #expect(refused.status == 0)
        #expect(refused.standardOutput.contains("# scenario run refuses this file (exit 64: "), "\(refused.standardOutput)")
        let file = NSTemporaryDirectory() + "printed-\(UUID().uuidString).yaml"
        try refused.standardOutput.write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try Binary.run(["scenario", "run", file]).status == 64)
        let taken = try Binary.run(["fuzz", "--seed", "1", "--print-case", "0"])
        #expect(!taken.standardOutput.contains("scenario run refuses this file"))
    }

    @Test("bad arguments exit 64 with the reason", arguments: [
        (["--cases", "0"], "--cases must be"),
        (["--cases", "5", "--time", "1s"], "give --cases or --time, not both"),
        (["--seed", "zebra"], "--seed"),
        (["--seed", "+5"], "--seed"),
        (["--seed", "0X5"], "--seed"),
        (["--seed", "0x"], "--seed"),
        (["--time", "0"], "--time"),
        (["--time", "5x"], "--time"),
        // Only decimal digits: Double would read these.
        (["--time", "0x10"], "--time"),
        (["--time", "1e-9"], "--time"),
        (["--time", "+5"], "--time"),
        (["--time", "1.2.3"], "--time"),
        (["--time", "169h"], "--time"),
        (["--real", "relative/dir"], "--real"),
        (["--real", "/nonexistent/buildos-clean-fuzz"], "does not exist"),
        // Not btrfs: every tree would fail to build, each read as a difference.
        (["--real", "/proc"], "is not on a btrfs filesystem"),
        (["--print-case", "-1"], "--print-case"),
        (["--format", "yaml"], "--format"),
        (["--print-case", "3", "--format", "json"], "--print-case prints one case as a scenario file"),
        (["--print-case", "3", "--cases", "9", "--no-shrink"], "--cases, --no-shrink does not apply"),
        (["--layout", "/dev/null", "--real", "/proc"], "--layout and --real do not go together"),
    ])
    func badArguments(_ arguments: [String], _ message: String) throws {
        let result = try Binary.run(["fuzz"] + arguments)
        #expect(result.status == 64, "\(arguments): \(result.standardError)")
        #expect(result.standardError.contains(message), "\(arguments): \(result.standardError)")
        #expect(result.standardOutput.isEmpty)
    }

    @Test("--save into a file that is not a directory is refused")
    func saveIntoFile() throws {
        let file = try temporaryDirectory() + "/plain"
        try "x".write(toFile: file, atomically: true, encoding: .utf8)
        let result = try Binary.run(["fuzz", "--cases", "1", "--save", file])
        #expect(result.status == 64)
        #expect(result.standardError.contains("is not a directory"))
    }

    @Test("--layout: every case starts from the file's tree; the report and --print-case say so")
    func aroundATree() throws {
        let file = try temporaryDirectory() + "/tree.layout"
        try "subvol v/m/m-12 ro\nsubvol v/m/m-13 ro\nlink v/m/m -> m-13\nsubvol v/m/m-gcc-1-1\ntmpfs /var/lock\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        let result = try Binary.run(["fuzz", "--layout", file, "--seed", "3", "--cases", "40", "--format", "json"])
        #expect(result.status == 0, "\(result.standardOutput)\(result.standardError)")
        let document = try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any]
        #expect(document?["layout"] as? String == file)
        #expect(document?["cases"] as? Int == 40)
        let text = try Binary.run(["fuzz", "--layout", file, "--seed", "3", "--cases", "5"])
        #expect(text.outputLines.first?.hasSuffix(", 0 failed, every case from the tree of \(file)") == true)
        let printed = try Binary.run(["fuzz", "--layout", file, "--print-case", "2"])
        #expect(printed.status == 0)
        #expect(printed.standardOutput.contains("around the tree of \(file)."))
        #expect(printed.standardOutput.contains("  subvol v/m/m-gcc-1-1\n"))
        #expect(printed.standardOutput.contains("  link   v/m/m -> m-13\n"))
        // An entry outside the root is kept as written.
        #expect(printed.standardOutput.contains("  tmpfs  /var/lock\n"), "\(printed.standardOutput)")
    }

    @Test("--layout with a file that is malformed, cannot be built or read: FILE:LINE, 64 (66), nothing run")
    func badTree() throws {
        let directory = try temporaryDirectory()
        for (text, status, message) in [
            ("subvol v/m/m-1 ro\nbogus v/m\n", Int32(64), "tree.layout:2: "),
            ("subvol v/m/m-1\nsubvol v/m/m-1\n", 64, "tree.layout:2: /build/machines/v/m/m-1: already exists"),
            // What the oracles do not model.
            ("subvol v/m/m-1 ro\nsubvol v/m/m-default-1-1 default\n", 64, "tree.layout:2: v/m/m-default-1-1: a default subvolume"),
        ] {
            let file = directory + "/tree.layout"
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            let result = try Binary.run(["fuzz", "--layout", file, "--cases", "5"])
            #expect(result.status == status, "\(text): \(result.standardError)")
            #expect(result.standardError.contains(message), "\(text): \(result.standardError)")
            #expect(result.standardOutput.isEmpty)
        }
        let missing = try Binary.run(["fuzz", "--layout", directory + "/missing.layout", "--cases", "5"])
        #expect(missing.status == 66)
        #expect(missing.standardError.contains("cannot read layout \(directory)/missing.layout"))
    }
}
