import Foundation
import Testing
import TestSupport

/// The notification command: bad settings are refused before anything is
/// touched; a command that runs too long is killed with its process
/// group, and one that leaves a background child does not hold the tool.
@Suite("the notification command as input")
struct NotifyInputTests {
    /// A layout with one stale working snapshot: a run has a line to send.
    static let layout = "subvol v/m/m-1 ro\nlink v/m/m -> m-1\nsubvol v/m/m-default-1-1\n"

    struct Refusal: Sendable, CustomTestStringConvertible {
        var arguments: [String]
        var message: String
        var testDescription: String { arguments.joined(separator: " ") }
    }

    static let refusals: [Refusal] = [
        Refusal(arguments: ["--notify", "true", "--notify-timeout", "0"], message: "--notify-timeout must be 1 to 3600 seconds, not 0"),
        Refusal(arguments: ["--notify", "true", "--notify-timeout=-5"], message: "--notify-timeout must be 1 to 3600 seconds, not -5"),
        Refusal(arguments: ["--notify", "true", "--notify-timeout", "3601"], message: "--notify-timeout must be 1 to 3600"),
        Refusal(
            arguments: ["--notify", "true", "--notify-timeout", "9223372036854775807"],
            message: "--notify-timeout must be 1 to 3600"),
        Refusal(
            arguments: ["--notify", "true", "--notify-timeout", "99999999999999999999"],
            message: "The value '99999999999999999999' is invalid for '--notify-timeout"),
        Refusal(arguments: ["--notify", "true", "--notify-timeout", "1.5"], message: "The value '1.5' is invalid"),
        Refusal(arguments: ["--notify-timeout", "5"], message: "--notify-timeout needs --notify"),
        Refusal(arguments: ["--notify", ""], message: "--notify needs a command"),
        Refusal(arguments: ["--notify", "  "], message: "--notify needs a command"),
        Refusal(arguments: ["--notify", "true", "--dry-run"], message: "--dry-run notifies nobody; drop --notify"),
    ]

    @Test("bad notification settings exit 64 and touch nothing", arguments: refusals)
    func refused(_ refusal: Refusal) throws {
        let root = try InputTest.realRoot()
        let before = InputTest.snapshot(of: root)
        let result = try InputTest.run(["cleanup", "--root", root, "--toolchain", "default"] + refusal.arguments)
        InputTest.expectRefused(result, location: nil, message: refusal.message)
        #expect(InputTest.snapshot(of: root) == before)
    }

    struct Slow: Sendable, CustomTestStringConvertible {
        var command: String
        var extra: [String]
        var warning: String
        var testDescription: String { command }
    }

    static let slow: [Slow] = [
        Slow(command: "sleep 60; true", extra: ["--notify-timeout", "1"], warning: "notify command still running after 1 s, killed"),
        Slow(command: "sh -c 'sleep 60'; true", extra: ["--notify-timeout", "1"], warning: "notify command still running after 1 s, killed"),
        Slow(command: "sleep 60 & true", extra: [], warning: "notify command left a background process holding its output"),
        Slow(command: "(sleep 60 &) ; true", extra: [], warning: "notify command left a background process holding its output"),
        Slow(command: "(sleep 60 &)", extra: [], warning: "notify command left a background process holding its output"),
        Slow(command: "sleep 60 &", extra: [], warning: "notify command left a background process holding its output"),
    ]

    @Test(
        "a command that ends in an operator or a closing keyword gets the summary as $1, never run as a command",
        arguments: [
            "if true; then printf 'summary: %s\\n' \"$1\"; fi", "{ printf 'summary: %s\\n' \"$1\"; }",
            "printf 'summary: %s\\n' \"$1\";", "(printf 'summary: %s\\n' \"$1\")", "printf 'summary: %s\\n'",
        ])
    func summaryAsParameter(command: String) throws {
        let layout = try InputTest.file("one.layout", Self.layout)
        let result = try InputTest.run(["cleanup", "--layout", layout, "--toolchain", "default", "--notify", command])
        #expect(result.status == 0)
        #expect(result.standardError.contains("summary: cleaned up entries in /build/machines/"), "\(result.standardError)")
        #expect(!result.standardError.contains("warning"), "\(result.standardError)")
    }

    @Test("a command that runs long or leaves a child behind does not hold the tool", arguments: slow)
    func doesNotHold(_ case: Slow) throws {
        let layout = try InputTest.file("one.layout", Self.layout)
        let result = try InputTest.run(
            ["cleanup", "--layout", layout, "--toolchain", "default", "--notify", `case`.command] + `case`.extra)
        #expect(!result.timedOut, "the tool waited for the command's children")
        #expect(result.status == 0, "the notification does not change the outcome")
        #expect(result.standardError.contains("buildos-clean: warning: " + `case`.warning), "\(result.standardError)")
        #expect(result.outputLines.first == "cleaned up entries in /build/machines/")
    }

    @Test("past its time limit the command's whole process group is killed, its children too")
    func timeoutKillsTheGroup() throws {
        let layout = try InputTest.file("one.layout", Self.layout)
        let mark = try InputTest.directory() + "/MARK"
        let result = try InputTest.run([
            "cleanup", "--layout", layout, "--toolchain", "default", "--notify", "sh -c 'sleep 3; touch \(mark)'; true",
            "--notify-timeout", "1",
        ])
        #expect(result.status == 0)
        #expect(result.standardError.contains("notify command still running after 1 s, killed"))
        // The inner shell would have made its mark two seconds later.
        sleep(4)
        #expect(!FileManager.default.fileExists(atPath: mark), "a child of the command outlived the kill")
    }

    @Test("a command ending in a line break or blanks gets the summary as its last argument all the same")
    func trailingLineBreak() throws {
        let layout = try InputTest.file("one.layout", Self.layout)
        for command in ["printf '[%s]' \"$1\" >&2; echo >&2\n", "echo >&2 \"<$1>\" \n\t "] {
            let result = try InputTest.run(["cleanup", "--layout", layout, "--toolchain", "default", "--notify", command])
            #expect(result.status == 0)
            #expect(!result.standardError.contains("not found"), "\(result.standardError)")
            #expect(!result.standardError.contains("notify command failed"), "\(result.standardError)")
            #expect(result.standardError.contains("cleaned up entries in /build/machines/"), "\(result.standardError)")
        }
        // A line continuation stays one: the summary is its next word.
        let continued = try InputTest.run([
            "cleanup", "--layout", layout, "--toolchain", "default", "--notify", "printf '<%s>' >&2 \\\n",
        ])
        #expect(continued.standardError.contains("<cleaned up entries in /build/machines/>"), "\(continued.standardError)")
        // Not an escaped blank first (the continuation's backslash before
        // a blank the summary was appended after).
        #expect(!continued.standardError.contains("< >"), "\(continued.standardError)")
    }

    @Test("the command's own output goes to standard error: standard output stays the report")
    func outputKeptApart() throws {
        let layout = try InputTest.file("one.layout", Self.layout)
        let result = try InputTest.run([
            "cleanup", "--layout", layout, "--toolchain", "default", "--format", "json", "--notify",
            "echo noise; cat >/dev/null; true",
        ])
        #expect(result.status == 0)
        #expect(result.standardError.contains("noise"))
        let document = try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8))
        #expect(document is [String: Any])
    }
}
