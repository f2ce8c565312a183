import Cleanup
import Foundation
import Testing
import TestSupport

/// The built binary on shipped and written layouts: output, exit status,
/// dry run, JSON, notification, usage errors.
@Suite("buildos-clean cleanup, end to end on layouts")
struct CleanupCommandTests {
    let exampleLayout = Binary.packageRoot() + "/Scenarios/layouts/example.layout"

    /// A layout written to a temporary file.
    func layoutFile(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "buildos-clean-\(UUID().uuidString).layout"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("the example layout: the original's summary and lines, exit 0")
    func example() throws {
        let result = try Binary.run(["cleanup", "--layout", exampleLayout, "--toolchain", "default"])
        let m = "/build/machines/default/linux_debian_12-gcc_13.1/linux_debian_12-gcc_13.1"
        #expect(
            result.outputLines == [
                "cleaned up entries in /build/machines/",
                "  /build/machines/default/linux_debian_12-gcc_13.1/latest: warning: symbolic link, kept, not followed",
                "  \(m)-default-4242-1: info: deleted subvolume",
                "  \(m)-default-4243-7: info: deleted subvolume",
                "  \(m)-default.lock: info: removed stale lock file",
                "  \(m)-old: info: deleted subvolume",
                "  /build/machines/default/windows-msvc_17.8/windows-msvc_17.8-3: info: deleted subvolume",
                "  /build/machines/default/windows-msvc_17.8/windows-msvc_17.8-default: info: deleted subvolume",
                "  /build/machines/default/windows-msvc_17.8: info: deleted machine directory",
                "  /build/machines/fast/freebsd_14-clang_17/freebsd_14-clang_17-default-77-3/nested: info: deleted nested subvolume",
                "  /build/machines/fast/freebsd_14-clang_17/freebsd_14-clang_17-default-77-3: info: deleted subvolume",
            ])
        #expect(result.standardError.isEmpty)
        #expect(result.status == 0)
    }

    @Test("nothing to clean: no output, exit 0")
    func nothingToClean() throws {
        let layout = try layoutFile("subvol v/m/m-1 ro\nlink v/m/m -> m-1\n")
        let result = try Binary.run(["cleanup", "--layout", layout, "--toolchain", "default"])
        #expect(result.standardOutput.isEmpty)
        #expect(result.status == 0)
    }

    @Test("--no-toolchains, asked for: every bootstrapped machine goes, revisions stay")
    func noToolchains() throws {
        let layout = try layoutFile("subvol v/m/m-1 ro\nlink v/m/m -> m-1\nsubvol v/m/m-default\nsubvol v/m/m-gcc\n")
        let result = try Binary.run(["cleanup", "--layout", layout, "--no-toolchains"])
        #expect(
            result.outputLines == [
                "cleaned up entries in /build/machines/",
                "  /build/machines/v/m/m-default: info: deleted subvolume",
                "  /build/machines/v/m/m-gcc: info: deleted subvolume",
            ])
        #expect(result.status == 0)
    }

    @Test("a failure halts: exit 1 and the advice to restart the monitor")
    func halting() throws {
        let layout = try layoutFile("subvol v/m/m-1 ro\nlink v/m/m -> m-9\n")
        let result = try Binary.run(["cleanup", "--layout", layout, "--toolchain", "default"])
        #expect(
            result.outputLines == [
                "invalid entries in /build/machines/, halting",
                "  /build/machines/v/m/m: error: dangling current machine link to m-9",
                "correct and restart the monitor (systemctl restart buildos)",
            ])
        #expect(result.status == 1)
    }

    @Test("--dry-run prints the plan and the diagnostics it implies, and deletes nothing")
    func dryRun() throws {
        let layout = try layoutFile(
            "subvol v/m/m-1 ro\nlink v/m/m -> m-1\nsubvol v/m/m-default-1-1\nfile v/m/junk\n")
        let result = try Binary.run(["cleanup", "--layout", layout, "--toolchain", "default", "--dry-run"])
        #expect(
            result.outputLines == [
                "plan for /build/machines (toolchains: default)",
                "  keep              /build/machines/v: volume",
                "  keep              /build/machines/v/m: machine",
                "  report            /build/machines/v/m/junk: unknown entry (regular file), kept",
                "  keep              /build/machines/v/m/m: current machine link -> m-1",
                "  keep              /build/machines/v/m/m-1: target of the current machine link",
                "  delete-subvolume  /build/machines/v/m/m-default-1-1: stale working snapshot of toolchain default",
                "",
                "unexpected entries in /build/machines/, kept",
                "  /build/machines/v/m/junk: warning: unknown entry (regular file), kept",
            ])
        #expect(result.status == 0)
    }

    @Test("the plan's first line names the toolchains, or none")
    func planNamesToolchains() throws {
        let layout = try layoutFile("subvol v/m/m-1 ro\nlink v/m/m -> m-1\n")
        let none = try Binary.run(["cleanup", "--layout", layout, "--no-toolchains", "--dry-run"])
        #expect(none.outputLines.first == "plan for /build/machines (toolchains: none)")
        let two = try Binary.run(["cleanup", "--layout", layout, "--toolchain", "gcc", "--toolchain", "default", "--dry-run"])
        #expect(two.outputLines.first == "plan for /build/machines (toolchains: default, gcc)")
    }

    @Test("--format json: one document with every decision, its reason and outcome")
    func json() throws {
        let result = try Binary.run(["cleanup", "--layout", exampleLayout, "--toolchain", "default", "--format", "json"])
        #expect(result.status == 0)
        let document = try JSONDecoder().decode(ReportDocument.self, from: Data(result.standardOutput.utf8))
        #expect(document.status == .cleaned)
        #expect(document.exitStatus == 0)
        #expect(document.summary == "cleaned up entries in /build/machines/")
        #expect(document.syncedVolumes == ["default", "fast"])
        let old = try #require(document.decisions.first { $0.entry == "linux_debian_12-gcc_13.1-old" })
        #expect(old.action == .deleteSubvolume)
        #expect(old.reason == "unconfigured-toolchain")
        #expect(old.outcome == "deleted")
        let nested = try #require(document.decisions.first { $0.entry == "freebsd_14-clang_17-default-77-3" })
        #expect(nested.nested == ["nested"])
        #expect(document.diagnostics.count == 10)
        #expect(result.standardOutput == Snapshot.expected("example-report.json", actual: result.standardOutput) ?? result.standardOutput)
    }

    @Test(
        "the help text",
        arguments: [
            (["cleanup", "--help"], Binary.Executable.production, "cleanup-help.txt"),
            (["--help"], .production, "help.txt"),
            (["--help"], .developer, "dev-help.txt"),
            (["scenario", "run", "--help"], .developer, "scenario-run-help.txt"),
            (["fuzz", "--help"], .developer, "fuzz-help.txt"),
        ])
    func help(arguments: [String], executable: Binary.Executable, name: String) throws {
        let result = try Binary.run(arguments, environment: ["COLUMNS": "80"], executable: executable)
        #expect(result.status == 0)
        #expect(result.standardOutput == Snapshot.expected(name, actual: result.standardOutput) ?? result.standardOutput)
    }

    @Test("the production binary lists no developer command; the developers' has every production one")
    func commandSets() throws {
        // Given one, the production binary hands it to the developers'
        // (ProductionBinaryTests); its help lists its own commands only.
        let production = try Binary.run(["--help"], executable: .production)
        let listed = production.standardOutput.components(separatedBy: "SUBCOMMANDS:").last ?? ""
        #expect(listed.contains("cleanup") && listed.contains("machine"), "\(listed)")
        #expect(!listed.contains("scenario") && !listed.contains("fuzz"), "\(listed)")
        let developer = try Binary.run(["cleanup", "--help"], executable: .developer)
        #expect(developer.status == 0)
        #expect(developer.standardOutput.contains("USAGE: buildos-clean-dev cleanup"))
    }

    @Test("--kernel-cmdline reads the toolchains Build OS was booted with")
    func kernelCommandLine() throws {
        let layout = try layoutFile("subvol v/m/m-1 ro\nlink v/m/m -> m-1\nsubvol v/m/m-default\nsubvol v/m/m-gcc\nsubvol v/m/m-old\n")
        let cmdline = try layoutFile("quiet buildos.toolchain_url=tftp://x buildos.toolchain_url.gcc=tftp://y\n")
        let result = try Binary.run(["cleanup", "--layout", layout, "--kernel-cmdline", cmdline])
        #expect(result.outputLines == ["cleaned up entries in /build/machines/", "  /build/machines/v/m/m-old: info: deleted subvolume"])
    }

    /// The cleanup of `layout` with a notification command that writes its
    /// argument, then its input, to a file: the run, and what it wrote.
    func notifying(_ layout: String) throws -> (Binary.Result, String) {
        let sink = NSTemporaryDirectory() + "notify-\(UUID().uuidString)"
        let command = "f() { printf '%s\\n' \"$1\" > \(sink); cat >> \(sink); }; f"
        let result = try Binary.run(["cleanup", "--layout", layout, "--toolchain", "default", "--notify", command])
        return (result, try String(contentsOfFile: sink, encoding: .utf8))
    }

    @Test("--notify runs the command with the summary and the lines on its input; its failure changes nothing")
    func notify() throws {
        let layout = try layoutFile("subvol v/m/m-1 ro\nlink v/m/m -> m-1\nsubvol v/m/m-default-1-1\n")
        let (result, mailed) = try notifying(layout)
        #expect(result.status == 0)
        #expect(
            mailed == """
                cleaned up entries in /build/machines/
                  /build/machines/v/m/m-default-1-1: info: deleted subvolume

                """)
        let failing = try Binary.run(["cleanup", "--layout", layout, "--toolchain", "default", "--notify", "exit 3;"])
        #expect(failing.status == 0)
        #expect(failing.standardError.contains("buildos-clean: warning: notify command failed with status 3"))
    }

    @Test("--notify gets the summary on one line, a line break in the root written out as \\n")
    func notifyEscapesTheSummary() throws {
        let layout = try layoutFile("root \"/build/ma\\nchines\"\nsubvol v/m/m-1 ro\nlink v/m/m -> m-1\nsubvol v/m/m-default-1-1\n")
        let (result, mailed) = try notifying(layout)
        #expect(result.status == 0, "\(result.standardError)")
        #expect(
            mailed == """
                cleaned up entries in /build/ma\\nchines/
                  /build/ma\\nchines/v/m/m-default-1-1: info: deleted subvolume

                """)
    }

    @Test(
        "bad arguments exit 64 with a clear message, before any output",
        arguments: [
            (["cleanup", "--layout", "L", "--toolchain", "gcc-13"], "invalid toolchain: toolchain name 'gcc-13' contains '-'"),
            (["cleanup", "--layout", "L"], "no toolchains configured"),
            (["cleanup", "--layout", "L", "--no-toolchains", "--toolchain", "default"], "--no-toolchains cannot be combined"),
            (["cleanup", "--layout", "L", "--toolchain", "default", "--root", "relative"], "--root needs an absolute path"),
            (["cleanup", "--layout", "L", "--toolchain", "default", "--dry-run", "--show-plan"], "--dry-run already prints the plan"),
            (["cleanup", "--layout", "L", "--toolchain", "default", "--format", "xml"], "The value 'xml' is invalid for '--format"),
            (["cleanup", "--bogus"], "Unknown option '--bogus'"),
            (["nonsense"], "Unexpected argument 'nonsense'"),
        ])
    func usageErrors(arguments: [String], message: String) throws {
        let layout = try layoutFile("subvol v/m/m-default-1-1\n")
        let result = try Binary.run(arguments.map { $0 == "L" ? layout : $0 })
        #expect(result.status == 64)
        #expect(result.standardOutput.isEmpty)
        #expect(result.standardError.contains(message), "\(result.standardError)")
    }

    @Test("a layout that cannot be read exits 66; one that is wrong exits 64 and names the line")
    func layoutErrors() throws {
        let missing = try Binary.run(["cleanup", "--layout", "/nonexistent.layout", "--toolchain", "default"])
        #expect(missing.status == 66)
        #expect(missing.standardError.contains("cannot read layout /nonexistent.layout"))
        let wrong = try layoutFile("subvol v/m/m-1\nbogus x\n")
        let invalid = try Binary.run(["cleanup", "--layout", wrong, "--toolchain", "default"])
        #expect(invalid.status == 64)
        #expect(invalid.standardError.contains("\(wrong):2: unknown kind 'bogus'"))
    }

    @Test("--format json: a run refused before its report prints the refusal's document; a root's trailing slashes go")
    func refusalDocuments() throws {
        let layout = try layoutFile("subvol default/m/m-1 ro\nlink default/m/m -> m-1\nsubvol default/m/m-default-1-1\n")
        let wrong = try layoutFile("subvol v/m/m-1\nbogus x\n")
        for (arguments, status, code, message) in [
            (["--layout", layout], 64, "usage", "no toolchains configured"),
            (["--layout", layout, "--kernel-cmdline", "/nonexistent"], 66, "unreadable-input", "cannot read kernel command line"),
            (["--layout", wrong, "--toolchain", "default"], 64, "usage", "\(wrong):2: unknown kind 'bogus'"),
        ] {
            let result = try Binary.run(["cleanup", "--format", "json", "--root", "/build/machines//"] + arguments)
            #expect(result.status == Int32(status))
            let document = try #require(
                try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any], "\(result.standardOutput)")
            #expect(document["status"] as? String == "refused")
            #expect(document["exitStatus"] as? Int == status)
            #expect(document["root"] as? String == "/build/machines")
            let error = document["error"] as? [String: String]
            #expect(error?["code"] == code)
            #expect(error?["message"]?.contains(message) == true, "\(String(describing: error))")
        }
        // A dry run says what it would change.
        let (dry, planned) = try document("subvol default/m/m-1 ro\nlink default/m/m -> m-1\nsubvol default/m/m-default-1-1\n", ["--dry-run", "--root", "/build/machines/"])
        #expect(dry.status == 0)
        #expect(planned["status"] as? String == "clean")
        #expect(planned["plannedChanges"] as? Int == 1)
        #expect(planned["root"] as? String == "/build/machines")
    }

    @Test("--root / is refused (the whole filesystem would be cleaned); runs of slashes in a root print as one")
    func rootDirectoryAndSlashRuns() throws {
        let layout = try layoutFile("subvol default/m/m-1 ro\nlink default/m/m -> m-1\nsubvol default/m/m-default-1-1\n")
        for root in ["/", "//", "///"] {
            for arguments in [["cleanup", "--toolchain", "default", "--dry-run"], ["machine", "list"]] {
                let top = try Binary.run(arguments + ["--root", root], executable: .production)
                #expect(top.status == 64, "\(top.standardError)")
                #expect(top.standardError.contains("is the root directory: give the machines root"), "\(top.standardError)")
                #expect(top.standardOutput.isEmpty)
            }
        }
        let doubled = try Binary.run(
            ["cleanup", "--layout", layout, "--root", "//build//machines//", "--toolchain", "default", "--format", "json"])
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(doubled.standardOutput.utf8)) as? [String: Any], "\(doubled.standardOutput)")
        #expect(document["root"] as? String == "/build/machines")
        #expect(!doubled.standardOutput.contains("//"))
        #expect(doubled.status == 0)
    }

    /// The JSON document of a cleanup of `layout`, and the run.
    func document(_ layout: String, _ extra: [String] = []) throws -> (Binary.Result, [String: Any]) {
        let result = try Binary.run(["cleanup", "--layout", try layoutFile(layout), "--toolchain", "default", "--format", "json"] + extra)
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any], "\(result.standardOutput)")
        return (result, document)
    }

    @Test("the JSON document of a halted run: its status, exit status, reason codes, and each line's cause")
    func haltedDocument() throws {
        let (dangling, document) = try self.document("subvol v/m/m-1 ro\nlink v/m/m -> m-9\n")
        #expect(dangling.status == 1)
        #expect(document["status"] as? String == "halted")
        #expect(document["exitStatus"] as? Int == 1)
        #expect(document["mode"] as? String == "boot")
        let decisions = try #require(document["decisions"] as? [[String: Any]])
        #expect(decisions.first { $0["entry"] as? String == "m" }?["reason"] as? String == "dangling-link")
        let (_, outside) = try self.document("subvol v/m/m-1 ro\nlink v/m/m -> ../m/m-1\n")
        let diagnostic = try #require((outside["diagnostics"] as? [[String: Any]])?.first)
        #expect(diagnostic["message"] as? String == "invalid current machine link to ../m/m-1")
        #expect(diagnostic["cause"] as? String == "not the name of an entry of the machine directory")
        let reasons = (outside["decisions"] as? [[String: Any]])?.compactMap { $0["reason"] as? String }
        #expect(reasons?.contains("link-outside-machine") == true)
    }

    @Test("the JSON document names a refusal's mount points, and the mode it ran in")
    func refusedAndLiveDocuments() throws {
        let (refused, document) = try self.document(
            "subvol v/m/m-1 ro\nlink v/m/m -> m-1\nsubvol v/m/m-default-1-1\nmount v/m/m-default-1-1/mnt\n")
        #expect(refused.status == 1)
        let decision = try #require((document["decisions"] as? [[String: Any]])?.first { $0["outcome"] as? String == "refused" })
        #expect(decision["mountPoints"] as? [String] == ["/build/machines/v/m/m-default-1-1/mnt"])
        let (_, live) = try self.document("subvol v/m/m-1 ro\nlink v/m/m -> m-1\nsubvol v/m/m-default-1-1\n", ["--mode", "live"])
        #expect(live["mode"] as? String == "live")
    }

    @Test("a dry run whose root cannot be opened says so in its document: a dry run, halted")
    func unopenableRootDryRun() throws {
        let result = try Binary.run([
            "cleanup", "--layout", try layoutFile("root /elsewhere\n"), "--root", "/build/machines", "--toolchain", "default",
            "--dry-run", "--format", "json",
        ])
        #expect(result.status == 1)
        let document = try #require(try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
        #expect(document["dryRun"] as? Bool == true)
        #expect(document["status"] as? String == "halted")
        #expect((document["diagnostics"] as? [[String: Any]])?.first?["message"] as? String == "unable to open machines root")
    }

    @Test("--dry-run and --show-plan print every plan line on one line, with its reason and cause")
    func planLines() throws {
        let layout = try layoutFile(
            "root \"/build/ma\\nchines\"\nsubvol v/m/m-1 ro\nlink v/m/m -> m-9\nsubvol v/m/m-gcc\nsubvol v/m/m-default-1-1\n")
        let dry = try Binary.run(["cleanup", "--layout", layout, "--toolchain", "default", "--dry-run"])
        #expect(
            dry.outputLines == [
                "plan for /build/ma\\nchines (toolchains: default)",
                "  keep              /build/ma\\nchines/v: volume",
                "  keep              /build/ma\\nchines/v/m: machine",
                "  report            /build/ma\\nchines/v/m/m: dangling current machine link to m-9",
                "  keep              /build/ma\\nchines/v/m/m-1: machine revision",
                "  delete-subvolume  /build/ma\\nchines/v/m/m-default-1-1: stale working snapshot of toolchain default",
                "  keep              /build/ma\\nchines/v/m/m-gcc: bootstrapped for toolchain gcc, kept while the current machine link is in error",
                "",
                "invalid entries in /build/ma\\nchines/, halting",
                "  /build/ma\\nchines/v/m/m: error: dangling current machine link to m-9",
                "correct and restart the monitor (systemctl restart buildos)",
            ])
        let shown = try Binary.run(["cleanup", "--layout", layout, "--toolchain", "default", "--show-plan"])
        #expect(Array(shown.outputLines.prefix(8)) == Array(dry.outputLines.prefix(8)))
        #expect(
            Array(shown.outputLines.dropFirst(8)) == [
                "invalid entries in /build/ma\\nchines/, halting",
                "  /build/ma\\nchines/v/m/m: error: dangling current machine link to m-9",
                "  /build/ma\\nchines/v/m/m-default-1-1: info: deleted subvolume",
                "correct and restart the monitor (systemctl restart buildos)",
            ])
    }
}
