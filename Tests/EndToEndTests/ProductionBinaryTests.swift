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

    @Test("--layout in the production binary is refused, pointing at the developers' executable")
    func noSimulatedTrees() throws {
        for arguments in [
            ["cleanup", "--layout", "/dev/null", "--toolchain", "default"], ["machine", "list", "--layout", "/dev/null"],
        ] {
            let result = try Binary.run(arguments, executable: .production)
            #expect(result.status == 64)
            #expect(result.standardError.contains("use buildos-clean-dev"))
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
