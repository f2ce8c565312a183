import Cleanup
import FSProtocol
import MachineLayout
import SimFS
import Testing
import TestSupport

/// Where the original algorithm was right (strays, removed toolchains,
/// machines without a link), the cleanup prints exactly its lines, in its
/// order, with its summary and exit status.
@Suite("Output parity with the original")
struct ParityTests {
    @Test("strays, a removed toolchain and a deleted machine: the original's lines")
    func originalLines() async throws {
        let host = try makeHost(
            """
            subvol default/linux-gcc_6/linux-gcc_6-1 ro
            subvol default/linux-gcc_6/linux-gcc_6-2 ro
            link   default/linux-gcc_6/linux-gcc_6 -> linux-gcc_6-2
            subvol default/linux-gcc_6/linux-gcc_6-default
            subvol default/linux-gcc_6/linux-gcc_6-default-1234-1
            subvol default/linux-gcc_6/linux-gcc_6-stage
            subvol default/linux-gcc_6/linux-gcc_6-stage-99-2
            subvol default/windows-msvc_14/windows-msvc_14-1 ro
            subvol default/windows-msvc_14/windows-msvc_14-default
            """)
        let report = await cleanup(host)
        let root = "/build/machines/default"
        #expect(
            report.textLines == [
                "cleaned up entries in /build/machines/",
                "  \(root)/linux-gcc_6/linux-gcc_6-default-1234-1: info: deleted subvolume",
                "  \(root)/linux-gcc_6/linux-gcc_6-stage: info: deleted subvolume",
                "  \(root)/linux-gcc_6/linux-gcc_6-stage-99-2: info: deleted subvolume",
                "  \(root)/windows-msvc_14/windows-msvc_14-1: info: deleted subvolume",
                "  \(root)/windows-msvc_14/windows-msvc_14-default: info: deleted subvolume",
                "  \(root)/windows-msvc_14: info: deleted machine directory",
            ])
        #expect(report.exitStatus == 0)
    }

    @Test("nothing to clean prints nothing and exits 0")
    func nothingToClean() async throws {
        let host = try makeHost(
            """
            subvol default/m/m-1 ro
            link   default/m/m -> m-1
            subvol default/m/m-default
            """)
        let report = await cleanup(host)
        #expect(report.textLines.isEmpty)
        #expect(report.summary == nil)
        #expect(report.exitStatus == 0)
    }

    @Test("an invalid volume and machine halt with the original's lines")
    func halting() async throws {
        let host = try makeHost(
            """
            file   README
            volume default
            file   default/stray
            subvol default/m/m-1 ro
            link   default/m/m -> m-1
            subvol default/m/m-default-1-1
            """)
        let report = await cleanup(host)
        #expect(
            report.textLines == [
                "invalid entries in /build/machines/, halting",
                "  /build/machines/README: error: invalid volume: not a directory (regular file)",
                "  \(machine)/m-default-1-1: info: deleted subvolume",
                "  /build/machines/default/stray: error: invalid machine: not a directory (regular file)",
                "correct and restart the monitor (systemctl restart buildos)",
            ])
        #expect(report.exitStatus == 1)
    }

    @Test("random layouts where the original was right give its exact lines", arguments: 0..<150)
    func randomLayouts(seed: UInt64) async throws {
        var random = SeededGenerator(seed: seed)
        let farm = RandomFarm(using: &random)
        let host = try SimulatedHost(layout: farm.layout)
        let report = await cleanup(host, toolchains: farm.toolchains)
        #expect(lines(report) == farm.originalLines, "seed \(seed):\n\(farm.layout.text)")
        #expect(report.exitStatus == 0)
        #expect(report.status == (farm.originalLines.isEmpty ? .clean : .cleaned))
    }
}

/// A random machines root in the subset the original handled right:
/// directories, subvolumes named by the grammar, links on revisions.
struct RandomFarm {
    var layout = Layout()
    var toolchains: [String]
    /// What the original's bash printed for it.
    var originalLines: [String] = []

    init(using random: inout SeededGenerator) {
        let toolchainPool = ["default", "gcc", "clang", "stage"]
        toolchains = toolchainPool.filter { _ in Bool.random(using: &random) }
        if toolchains.isEmpty { toolchains = ["default"] }
        let machinePool = ["linux-gcc_6", "linux_debian_12-gcc_13.1", "w", "win.msvc", "a_b-c", "x-1"]
        for volume in ["default", "fast", "slow"].filter({ _ in Int.random(in: 0..<3, using: &random) > 0 }) {
            layout.entries.append(LayoutEntry(.volume, volume))
            for machine in machinePool.filter({ _ in Bool.random(using: &random) }).sorted(by: Self.byteOrder) {
                addMachine(machine, in: volume, using: &random)
            }
        }
    }

    static func byteOrder(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }

    /// What a generated entry is, as the original's bash would tell: the
    /// suffix after `<m>-` all digits (a revision), a toolchain name (a
    /// bootstrapped machine), or anything else. Known here from how the name
    /// was made, not from the grammar under test.
    enum Generated: Equatable {
        case revision, bootstrapped(String), working
    }

    mutating func addMachine(_ machine: String, in volume: String, using random: inout SeededGenerator) {
        let directory = "\(volume)/\(machine)"
        layout.entries.append(LayoutEntry(.dir, directory))
        var entries: [String: Generated] = [:]
        let revisions = Int.random(in: 0...3, using: &random)
        for revision in (1...max(1, revisions)).prefix(revisions) { entries["\(machine)-\(revision)"] = .revision }
        for toolchain in ["default", "gcc", "clang", "stage", "old"] where Int.random(in: 0..<3, using: &random) == 0 {
            entries["\(machine)-\(toolchain)"] = .bootstrapped(toolchain)
            for _ in 0..<Int.random(in: 0...2, using: &random) {
                let suffix = "\(Int.random(in: 1...9999, using: &random))-\(Int.random(in: 1...9, using: &random))"
                entries["\(machine)-\(toolchain)-\(suffix)"] = .working
            }
        }
        let names = entries.keys.sorted(by: Self.byteOrder)
        for name in names {
            var entry = LayoutEntry(.subvol, "\(directory)/\(name)")
            entry.readOnly = entries[name] == .revision
            layout.entries.append(entry)
        }
        let linked = revisions > 0 && Int.random(in: 0..<5, using: &random) > 0
        if linked {
            var link = LayoutEntry(.link, "\(directory)/\(machine)")
            link.target = "\(machine)-\(Int.random(in: 1...revisions, using: &random))"
            layout.entries.append(link)
        }
        // The original: without the link every <m>-* goes, then the
        // directory; with it, revisions and configured toolchains stay.
        let path = "/build/machines/\(directory)"
        for name in names {
            let kept: Bool
            switch entries[name] {
            case .revision: kept = linked
            case .bootstrapped(let toolchain): kept = linked && toolchains.contains(toolchain)
            case .working, nil: kept = false
            }
            if !kept { originalLines.append("\(path)/\(name): info: deleted subvolume") }
        }
        if !linked { originalLines.append("\(path): info: deleted machine directory") }
    }
}
