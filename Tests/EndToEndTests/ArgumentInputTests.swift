import Foundation
import Testing
import TestSupport

/// Bad command-line arguments: exit 64 with a message naming the
/// argument, nothing touched (the real root of `cleanup` as it was; no
/// file written by `scenario run`).
@Suite("arguments as input")
struct ArgumentInputTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var arguments: [String]
        var message: String
        var testDescription: String { arguments.joined(separator: " ") }

        init(_ arguments: [String], _ message: String) {
            self.arguments = arguments
            self.message = message
        }
    }

    static let cleanupCases: [Case] = [
        Case(["--root", "relative/path"], "--root needs an absolute path, not 'relative/path'"),
        Case(["--root", "ROOT/../x"], "it holds '..'"),
        Case(["--root", "/" + String(repeating: "r", count: 256)], "is 256 bytes long (at most 255)"),
        Case(["--root", "/" + Array(repeating: "d", count: 2100).joined(separator: "/")], "bytes long (at most 4095)"),
        Case(["--toolchain", ""], "invalid toolchain: empty toolchain name"),
        Case(["--toolchain", "a b"], "invalid toolchain"),
        Case(["--toolchain", "gcc-13"], "toolchain name 'gcc-13' contains '-'"),
        // The message stays one line of text: a control character is escaped.
        Case(["--toolchain", "a\u{7F}b"], "toolchain name 'a\\x7fb' contains a blank or control character"),
        Case(["--mode", "fast"], "The value 'fast' is invalid for '--mode"),
        Case(["--format", "xml"], "The value 'xml' is invalid for '--format"),
        Case(["--no-toolchains", "--toolchain", "default"], "--no-toolchains cannot be combined"),
        Case(["--dry-run", "--show-plan"], "--dry-run already prints the plan"),
        Case(["--bogus"], "Unknown option '--bogus'"),
        // A negative number is the option's value, not an option.
        Case(["--wait", "-1"], "--wait must be 0 to 604800 seconds, not -1.0"),
        Case(["--notify", "true", "--notify-timeout", "-5"], "--notify-timeout must be 1 to 3600 seconds, not -5"),
    ]

    @Test("the longest waits are taken: a week for the tool lock, an hour for the notification")
    func longestWaits() throws {
        let root = try InputTest.realRoot()
        // (The tree has a link in error: the run exits 1, as taken.)
        let result = try InputTest.run(["cleanup", "--root", root, "--toolchain", "default", "--dry-run", "--wait", "604800"])
        #expect(result.status == 1, "\(result.standardError)")
        #expect(result.outputLines.first?.hasPrefix("plan for ") == true)
        InputTest.expectRefused(
            try InputTest.run(["cleanup", "--root", root, "--toolchain", "default", "--wait", "604800.5"]), location: nil,
            message: "--wait must be 0 to 604800 seconds, not 604800.5")
        let notify = try InputTest.run([
            "cleanup", "--root", root, "--toolchain", "default", "--notify", "true", "--notify-timeout", "3600",
        ])
        #expect(notify.status == 1, "\(notify.standardError)")
        #expect(!notify.standardError.contains("--notify-timeout"))
    }

    @Test("bad cleanup arguments exit 64 and touch nothing", arguments: cleanupCases)
    func cleanup(_ input: Case) throws {
        let root = try InputTest.realRoot()
        let before = InputTest.snapshot(of: root)
        let arguments = input.arguments.map { $0.replacingOccurrences(of: "ROOT", with: root) }
        let toolchain = arguments.contains("--toolchain") || arguments.contains("--no-toolchains") ? [] : ["--toolchain", "default"]
        let result = try InputTest.run(["cleanup", "--root", root] + toolchain + arguments)
        InputTest.expectRefused(result, location: nil, message: input.message)
        #expect(InputTest.snapshot(of: root) == before)
    }

    @Test(
        "an argument that is not UTF-8 exits 64 rather than naming another path",
        arguments: [Binary.Executable.production, .developer])
    func undecodableArgument(_ executable: Binary.Executable) throws {
        // `--root DIR/r\xff`, where `DIR/r\u{FFFD}` (what the argument
        // parser would read it as) holds a machine without its link, which
        // a cleanup there would delete.
        let directory = try InputTest.directory()
        let repaired = directory + "/r\u{FFFD}"
        try FileManager.default.createDirectory(atPath: repaired + "/v/m", withIntermediateDirectories: true)
        let result = try Binary.run(
            ["-c", "exec \"$0\" cleanup --root \"$1$(printf 'r\\377')\" --toolchain default", Binary.path(of: executable), directory + "/"],
            timeout: InputTest.timeout, executable: .program("/bin/sh"))
        InputTest.expectRefused(result, location: nil, message: "argument 3 is not valid UTF-8: \(directory)/r\\xff")
        #expect(FileManager.default.fileExists(atPath: repaired + "/v/m"))
    }

    static let scenarioCases: [Case] = [
        Case(["--schedules", "0"], "--schedules must be 1 to 1000000, not 0"),
        Case(["--schedules=-1"], "--schedules must be 1 to 1000000, not -1"),
        Case(["--schedules", "-1"], "--schedules must be 1 to 1000000, not -1"),
        Case(["--schedules", "9223372036854775807"], "--schedules must be 1 to 1000000"),
        Case(["--schedules", "99999999999999999999"], "The value '99999999999999999999' is invalid for '--schedules"),
        Case(["--seed=-1"], "The value '-1' is invalid for '--seed"),
        Case(["--seed", "+1"], "The value '+1' is invalid for '--seed"),
        Case(["--seed", "18446744073709551616"], "The value '18446744073709551616' is invalid for '--seed"),
        Case(["--strategy", "stratgy"], "The value 'stratgy' is invalid for '--strategy"),
        Case(["--save", ""], "--save needs a directory"),
        Case(["--save", "/dev/null"], "--save '/dev/null' is not a directory"),
        Case(["--replay-dir", "x"], "Unknown option '--replay-dir'"),
        Case(["--strategy", "replay"], "strategy replay needs a schedule"),
        // Text that a JSON document would drop, or be broken by.
        Case(["--format", "json", "--trace"], "--trace and --end-state print text"),
        Case(["--format", "json", "--end-state"], "--trace and --end-state print text"),
    ]

    @Test("bad scenario run arguments exit 64 and write nothing", arguments: scenarioCases)
    func scenario(_ input: Case) throws {
        let work = try InputTest.directory()
        let file = Binary.packageRoot() + "/Scenarios/planted-bug.yaml"
        let result = try InputTest.run(["scenario", "run", file] + input.arguments, workingDirectory: work)
        InputTest.expectRefused(result, location: nil, message: input.message)
        #expect(try FileManager.default.contentsOfDirectory(atPath: work).isEmpty)
    }

    @Test("scenario run without files is a usage error")
    func noFiles() throws {
        let result = try InputTest.run(["scenario", "run"])
        InputTest.expectRefused(result, location: nil, message: "Missing expected argument '<files> ...'")
    }

    @Test("--print-layout is refused for list, which changes nothing")
    func printLayoutForList() throws {
        let layout = try InputTest.file("one.layout", "volume default\n")
        let result = try InputTest.run(["machine", "list", "--layout", layout, "--print-layout"])
        InputTest.expectRefused(result, location: nil, message: "list changes nothing: --print-layout does not apply")
    }

    @Test("no command is a usage error, not a help page that exits 0")
    func noCommand() throws {
        for (executable, arguments, commands) in [
            (Binary.Executable.production, [String](), "cleanup or machine"),
            (.production, ["machine"], "add, upgrade, remove or list"),
            (.developer, [], "cleanup, machine, scenario or fuzz"),
            (.developer, ["scenario"], "run"),
        ] {
            let result = try Binary.run(arguments, executable: executable)
            #expect(result.status == 64, "\(arguments)")
            #expect(result.standardOutput.isEmpty)
            #expect(result.standardError.contains("error: no command given: give " + (commands == "run" ? "" : "one of ") + commands))
        }
    }
}
