import FSProtocol
import Foundation
import Testing
import TestSupport

/// What the production binary carries: neither the simulator nor
/// Foundation's internationalisation (docs/architecture.md).
@Suite("the production binary")
struct ProductionBinaryTests {
    /// Shared libraries and modules that must stay out of what ships.
    static let foundationLibraries = ["libFoundation.so", "libFoundationInternationalization.so", "lib_FoundationICU.so"]
    static let developerModules = ["Simulation", "BuildFarm", "Yams", "SimFS"]

    @Test("links no Foundation library beside FoundationEssentials")
    func noFoundation() throws {
        let dynamic = try Shell.run(["readelf", "-d", Binary.path])
        let needed = dynamic.split(separator: "\n").filter { $0.contains("(NEEDED)") }
        #expect(!needed.isEmpty)
        for library in Self.foundationLibraries {
            #expect(!needed.contains { $0.contains("[\(library)]") }, "\(library) in: \(needed)")
        }
    }

    @Test("holds no code of the simulator's modules")
    func noSimulator() throws {
        // Swift mangles a module as its name's length and the name.
        let symbols = try Shell.run(["nm", Binary.path])
        #expect(symbols.contains("7Cleanup"))
        for module in Self.developerModules {
            #expect(!symbols.contains("s\(module.utf8.count)\(module)"), "symbols of \(module)")
        }
        let developer = try Shell.run(["nm", Binary.path(of: .developer)])
        #expect(developer.contains("s10Simulation"))
    }

    /// A copy of the production binary alone in a directory of its own,
    /// as a build host has it: no developers' executable beside it. The
    /// directory's path without links, as the binary finds its own
    /// (`/proc/self/exe`).
    func productionAlone() throws -> String {
        let made = NSTemporaryDirectory() + "alone-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: made, withIntermediateDirectories: true)
        let directory = URL(fileURLWithPath: made).resolvingSymlinksInPath().path
        try FileManager.default.copyItem(atPath: Binary.path, toPath: directory + "/buildos-clean")
        return directory
    }

    @Test("alone, the production binary refuses the developers' commands and --layout (64), naming where they are")
    func developersCommandsRefused() throws {
        let directory = try productionAlone()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let scenario = Binary.packageRoot() + "/Scenarios/upgrade.yaml"
        for arguments in [
            ["cleanup", "--layout", "/dev/null", "--toolchain", "default"], ["machine", "list", "--layout", "/dev/null"],
            ["scenario", "run", scenario], ["fuzz", "--cases", "1"], ["fuzz", "--help"], ["help", "fuzz"],
        ] {
            let result = try Binary.run(arguments, executable: .program(directory + "/buildos-clean"))
            #expect(result.status == 64, "\(arguments)")
            #expect(result.standardOutput.isEmpty, "\(arguments)")
            #expect(result.standardError.contains("buildos-clean-dev"), "\(arguments)")
            #expect(
                result.standardError.contains("there is no \(directory)/buildos-clean-dev beside this one"),
                "\(arguments): \(result.standardError)")
        }
    }

    @Test("beside the developers' executable, the production binary runs its commands through it")
    func developersCommandsHandedOver() throws {
        // The copy's own directory, whatever `BUILDOS_CLEAN_BINARY` names;
        // a link there to the developers' executable is enough.
        let directory = try productionAlone()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createSymbolicLink(
            atPath: directory + "/buildos-clean-dev", withDestinationPath: Binary.path(of: .developer))
        let scenario = Binary.packageRoot() + "/Scenarios/upgrade.yaml"
        let untimed = { (text: String) in
            text.replacingOccurrences(of: #", [0-9]+\.[0-9]+ s"#, with: "", options: .regularExpression)
        }
        let layout = NSTemporaryDirectory() + "handed-over-\(UUID().uuidString).layout"
        try "subvol default/m/m-1 ro\nlink default/m/m -> m-1\nsubvol default/m/m-default-1-1\n"
            .write(toFile: layout, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: layout) }
        for arguments in [
            ["scenario", "run", scenario, "--schedules", "5"], ["fuzz", "--cases", "20", "--seed", "7"],
            ["cleanup", "--layout", layout, "--toolchain", "default", "--format", "json"],
            ["machine", "list", "--layout", layout, "--format", "json"],
        ] {
            let production = try Binary.run(arguments, executable: .program(directory + "/buildos-clean"))
            let developer = try Binary.run(arguments, executable: .developer)
            #expect(production.status == 0, "\(arguments): \(production.standardError)")
            #expect(production.status == developer.status, "\(arguments)")
            if arguments.first == "fuzz" {
                // The rate and the time differ from run to run.
                #expect(production.standardOutput.contains("20 cases"), "\(production.standardOutput)")
            } else {
                #expect(untimed(production.standardOutput) == untimed(developer.standardOutput), "\(arguments)")
            }
        }
        // Handed over before the command reads its inputs: a stream on
        // standard input reaches the developers' executable whole.
        let volume = NSTemporaryDirectory() + "handed-over-\(UUID().uuidString).layout"
        try "volume default\n".write(toFile: volume, atomically: true, encoding: .utf8)
        let stream = NSTemporaryDirectory() + "handed-over-\(UUID().uuidString).stream"
        let header = SendStreamHeader(version: 1, name: "m-1", uuid: BtrfsUUID(high: 9, low: 1), transactionID: 1)
        try Data(SendStream.empty(header)).write(to: URL(fileURLWithPath: stream))
        defer {
            try? FileManager.default.removeItem(atPath: volume)
            try? FileManager.default.removeItem(atPath: stream)
        }
        let add = try Binary.run(
            [
                "-c", #"exec "$0" machine add default/m --stream - --owner 0 --layout "$1" < "$2""#,
                directory + "/buildos-clean", volume, stream,
            ], executable: .program("/bin/sh"))
        #expect(add.status == 0, "\(add.standardError)")
        #expect(add.outputLines.first == "add default/m: done", "\(add.standardOutput)")
    }

    @Test("the hand-over passes every argument as given, and blocks no signal")
    func handOverArguments() throws {
        let directory = try productionAlone()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // A stand-in for the developers' executable: its arguments, then
        // its blocked signals.
        let standIn = directory + "/buildos-clean-dev"
        try "#!/bin/sh\nprintf '<%s>\\n' \"$@\"\nexec grep '^SigBlk' /proc/self/status\n"
            .write(toFile: standIn, atomically: true, encoding: .utf8)
        chmod(standIn, 0o755)
        for arguments in [
            ["fuzz", "", "a b", "--seed", "é"], ["help", "scenario"],
            ["machine", "list", "--layout=x y", "--format", "json"], ["cleanup", "--toolchain", "t", "--layout", "-"],
        ] {
            let result = try Binary.run(arguments, executable: .program(directory + "/buildos-clean"))
            #expect(result.status == 0, "\(arguments): \(result.standardError)")
            #expect(
                result.outputLines == arguments.map { "<\($0)>" } + ["SigBlk:\t0000000000000000"],
                "\(arguments): \(result.standardOutput)")
        }
    }

    @Test("a link to the production binary, or a copy of it, named as the developers' executable is not run")
    func noHandOverToItself() throws {
        let directory = try productionAlone()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let production = directory + "/buildos-clean"
        for make in ["link", "copy"] {
            let beside = directory + "/buildos-clean-dev"
            try? FileManager.default.removeItem(atPath: beside)
            if make == "link" {
                try FileManager.default.createSymbolicLink(atPath: beside, withDestinationPath: "buildos-clean")
            } else {
                try FileManager.default.copyItem(atPath: production, toPath: beside)
            }
            for arguments in [["fuzz", "--cases", "1"], ["cleanup", "--layout", "/dev/null", "--toolchain", "default"]] {
                let result = try Binary.run(arguments, timeout: 20, executable: .program(production))
                #expect(!result.timedOut, "\(make) \(arguments)")
                #expect(result.status == 64, "\(make) \(arguments): \(result.standardError)")
                #expect(
                    result.standardError.contains("buildos-clean-dev is this executable itself"),
                    "\(make) \(arguments): \(result.standardError)")
            }
        }
    }

    @Test("--version prints the version in both executables")
    func version() throws {
        for executable in [Binary.Executable.production, .developer] {
            let result = try Binary.run(["--version"], executable: executable)
            #expect(result.status == 0)
            #expect(result.outputLines.count == 1)
            #expect(result.standardOutput.hasPrefix("0.") || result.standardOutput.first?.isNumber == true)
        }
    }
}
