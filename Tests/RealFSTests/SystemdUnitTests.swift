import Foundation
import Testing
import TestSupport

/// The shipped systemd unit's command line, read from the unit file itself
/// and run as the unit would run it at boot, on a real btrfs tree: only
/// the binary, the kernel command line and the machines root are the
/// test's (docs/build-os.md).
@Suite(
    "the systemd unit's command on a real btrfs",
    .enabled(if: realBackendRuns, Comment(rawValue: RealBackendAvailability.problem ?? "")))
struct SystemdUnitTests {
    static let unitFile = Binary.packageRoot() + "/packaging/buildos-clean.service"

    /// The unit's `ExecStart=` arguments after the binary, with the
    /// kernel command line file replaced and the tree's root added.
    func unitArguments(kernelCommandLine: String, root: String) throws -> [String] {
        let unit = try String(contentsOfFile: Self.unitFile, encoding: .utf8)
        let lines = unit.split(separator: "\n").map(String.init)
        let execStart = try #require(lines.first { $0.hasPrefix("ExecStart=") })
        #expect(!execStart.contains("\"") && !execStart.contains("'") && !execStart.contains("$"))
        let words = execStart.dropFirst("ExecStart=".count).split(separator: " ").map(String.init)
        #expect(words.first == "/usr/sbin/buildos-clean")
        #expect(words.contains("/proc/cmdline"))
        return words.dropFirst().map { $0 == "/proc/cmdline" ? kernelCommandLine : $0 } + ["--root", root]
    }

    /// A kernel command line as Build OS boots with, two toolchains.
    func kernelCommandLine() throws -> String {
        let path = NSTemporaryDirectory() + "cmdline-\(UUID().uuidString)"
        let line =
            "BOOT_IMAGE=/buildos-image root=/dev/ram0 quiet buildos.toolchain_url=https://example.org/stage/toolchain"
            + " buildos.toolchain_url.gcc=https://example.org/gcc/toolchain\n"
        try line.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("the unit is a oneshot that stays active, skipped without /build/machines, runs the boot cleanup")
    func unitShape() throws {
        let unit = try String(contentsOfFile: Self.unitFile, encoding: .utf8)
        let lines = Set(unit.split(separator: "\n").map(String.init))
        #expect(lines.contains("Type=oneshot"))
        #expect(lines.contains("RemainAfterExit=yes"))
        #expect(lines.contains("ConditionPathIsDirectory=/build/machines"))
        #expect(!unit.contains("--root"), "the shipped unit cleans the default root")
        let dropIn = try String(
            contentsOfFile: Binary.packageRoot() + "/packaging/bbot-agent@.service.d/buildos-clean.conf", encoding: .utf8)
        #expect(dropIn.contains("Requires=buildos-clean.service"))
        #expect(dropIn.contains("After=buildos-clean.service"))
    }

    @Test("a boot cleanup with the toolchains of the kernel command line: stale entries go, exit 0")
    func bootCleanup() async throws {
        try requireRealBackend()
        let tree = try RealTree(named: "unit")
        try tree.directory("default/m")
        try tree.received("default/m/m-1")
        try tree.received("default/m/m-2")
        try tree.symlink("default/m/m", to: "m-2")
        try tree.snapshot("default/m/m-2", "default/m/m-default")
        try tree.snapshot("default/m/m-2", "default/m/m-gcc")
        try tree.snapshot("default/m/m-1", "default/m/m-old")
        try tree.snapshot("default/m/m-default", "default/m/m-default-100-1")
        try tree.file("default/m/m-gcc.lock")
        let arguments = try unitArguments(kernelCommandLine: try kernelCommandLine(), root: tree.root)

        let result = try Binary.run(arguments, executable: .production)
        let m = tree.path("default/m/m")
        #expect(
            result.outputLines == [
                "cleaned up entries in \(tree.root)/",
                "  \(m)-default-100-1: info: deleted subvolume",
                "  \(m)-gcc.lock: info: removed stale lock file",
                "  \(m)-old: info: deleted subvolume",
            ])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(try tree.names("default/m") == ["m", "m-1", "m-2", "m-default", "m-gcc"])
        await tree.remove()
    }

    @Test("a tree the cleanup does not recognise: everything kept, exit 1, so the agents do not start")
    func halts() async throws {
        try requireRealBackend()
        let tree = try RealTree(named: "unit-halt")
        try tree.directory("default/m")
        try tree.received("default/m/m-2")
        try tree.symlink("default/m/m-latest", to: "m-2")
        try tree.snapshot("default/m/m-2", "default/m/m-default-100-1")
        let arguments = try unitArguments(kernelCommandLine: try kernelCommandLine(), root: tree.root)

        let result = try Binary.run(arguments, executable: .production)
        #expect(result.status == 1, "\(result.standardOutput)\(result.standardError)")
        #expect(result.outputLines.first == "invalid entries in \(tree.root)/, halting")
        #expect(result.outputLines.last == "correct and restart the monitor (systemctl restart buildos)")
        #expect(try tree.names("default/m") == ["m-2", "m-default-100-1", "m-latest"])
        await tree.remove()
    }
}
