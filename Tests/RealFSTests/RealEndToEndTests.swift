import Foundation
import Testing
import TestSupport

/// The binary as Build OS runs it at boot: root, the real filesystem, a
/// realistic machines root.
@Suite(
    "buildos-clean cleanup on a real btrfs",
    .enabled(if: realBackendRuns, Comment(rawValue: RealBackendAvailability.problem ?? "")))
struct RealEndToEndTests {
    /// Two volumes; a machine with received revisions, its link, a link
    /// at the current revision, bootstrapped machines for a configured and
    /// a removed toolchain, stray snapshots (one read-only, one holding
    /// nested subvolumes), a lock file and a plain directory; a machine
    /// whose link is gone; a machine in a second volume.
    func buildTree() throws -> RealTree {
        let tree = try RealTree(named: "machines")
        try tree.directory("default/linux-gcc_6")
        try tree.received("default/linux-gcc_6/linux-gcc_6-1")
        try tree.received("default/linux-gcc_6/linux-gcc_6-2")
        try tree.symlink("default/linux-gcc_6/linux-gcc_6", to: "linux-gcc_6-2")
        try tree.symlink("default/linux-gcc_6/linux-gcc_6-latest", to: "linux-gcc_6-2")
        try tree.snapshot("default/linux-gcc_6/linux-gcc_6-2", "default/linux-gcc_6/linux-gcc_6-default")
        try tree.snapshot("default/linux-gcc_6/linux-gcc_6-1", "default/linux-gcc_6/linux-gcc_6-old")
        try tree.snapshot("default/linux-gcc_6/linux-gcc_6-default", "default/linux-gcc_6/linux-gcc_6-default-100-1")
        try tree.subvolume("default/linux-gcc_6/linux-gcc_6-default-100-1/nested")
        try tree.subvolume("default/linux-gcc_6/linux-gcc_6-default-100-1/nested/deeper")
        try tree.snapshot(
            "default/linux-gcc_6/linux-gcc_6-default", "default/linux-gcc_6/linux-gcc_6-default-101-1", readOnly: true)
        try tree.file("default/linux-gcc_6/linux-gcc_6-default.lock")
        try tree.directory("default/linux-gcc_6/linux-gcc_6-scratch")
        try tree.directory("default/windows-msvc_14")
        try tree.received("default/windows-msvc_14/windows-msvc_14-1")
        try tree.snapshot("default/windows-msvc_14/windows-msvc_14-1", "default/windows-msvc_14/windows-msvc_14-default")
        try tree.directory("fast/freebsd-clang")
        try tree.received("fast/freebsd-clang/freebsd-clang-3")
        try tree.symlink("fast/freebsd-clang/freebsd-clang", to: "freebsd-clang-3")
        try tree.snapshot("fast/freebsd-clang/freebsd-clang-3", "fast/freebsd-clang/freebsd-clang-default-7-7")
        return tree
    }

    @Test("a boot cleanup: the right entries go, the lines and status are the original's, a second run changes nothing")
    func bootCleanup() async throws {
        try requireRealBackend()
        let tree = try buildTree()
        let first = try Binary.run(["cleanup", "--root", tree.root, "--toolchain", "default"])
        let m = tree.path("default/linux-gcc_6/linux-gcc_6")
        #expect(
            first.outputLines == [
                "cleaned up entries in \(tree.root)/",
                "  \(m)-default-100-1/nested/deeper: info: deleted nested subvolume",
                "  \(m)-default-100-1/nested: info: deleted nested subvolume",
                "  \(m)-default-100-1: info: deleted subvolume",
                "  \(m)-default-101-1: info: deleted subvolume",
                "  \(m)-default.lock: info: removed stale lock file",
                "  \(m)-latest: warning: symbolic link, kept, not followed",
                "  \(m)-old: info: deleted subvolume",
                "  \(m)-scratch: warning: not a subvolume (plain directory), kept",
                "  \(tree.path("default/windows-msvc_14/windows-msvc_14-1")): info: deleted subvolume",
                "  \(tree.path("default/windows-msvc_14/windows-msvc_14-default")): info: deleted subvolume",
                "  \(tree.path("default/windows-msvc_14")): info: deleted machine directory",
                "  \(tree.path("fast/freebsd-clang/freebsd-clang-default-7-7")): info: deleted subvolume",
            ])
        #expect(first.status == 0)
        #expect(first.standardError.isEmpty)
        let survivors = [
            "linux-gcc_6", "linux-gcc_6-1", "linux-gcc_6-2", "linux-gcc_6-default", "linux-gcc_6-latest",
            "linux-gcc_6-scratch",
        ]
        #expect(try tree.names("default/linux-gcc_6") == survivors)
        #expect(try tree.names("default") == ["linux-gcc_6"])
        #expect(try tree.names("fast/freebsd-clang") == ["freebsd-clang", "freebsd-clang-3"])
        #expect(try tree.isReadOnly("default/linux-gcc_6/linux-gcc_6-2"))
        // Received, and still so: a UUID, not `-`.
        #expect(try tree.receivedUUID("default/linux-gcc_6/linux-gcc_6-2").count == 36)

        let second = try Binary.run(["cleanup", "--root", tree.root, "--toolchain", "default"])
        #expect(
            second.outputLines == [
                "unexpected entries in \(tree.root)/, kept",
                "  \(m)-latest: warning: symbolic link, kept, not followed",
                "  \(m)-scratch: warning: not a subvolume (plain directory), kept",
            ])
        #expect(second.status == 0)
        #expect(try tree.names("default/linux-gcc_6") == survivors)
        await tree.remove()
    }

    @Test("--dry-run on the real filesystem changes nothing")
    func dryRun() async throws {
        try requireRealBackend()
        let tree = try buildTree()
        // Every entry at every depth, with its kind, device and inode (a
        // subvolume deleted and made again would have another device).
        func everything() throws -> String {
            try Shell.run(["find", tree.root, "-printf", "%y %D %i %P\\n"])
        }
        let before = try everything()
        let result = try Binary.run(["cleanup", "--root", tree.root, "--toolchain", "default", "--dry-run"])
        #expect(result.status == 0)
        #expect(result.outputLines.first == "plan for \(tree.root) (toolchains: default)")
        #expect(result.outputLines.contains { $0.contains("linux-gcc_6-default-") && $0.contains("delete-subvolume") })
        #expect(try everything() == before)
        await tree.remove()
    }

    @Test("an immutable stray and one in an append-only directory are kept, the line saying what btrfs refuses")
    func immutableAndAppendOnly() async throws {
        try requireRealBackend()
        let tree = try RealTree(named: "attributes")
        try tree.directory("v/m")
        try tree.received("v/m/m-1")
        try tree.symlink("v/m/m", to: "m-1")
        try tree.subvolume("v/m/m-default-1-1")
        try tree.directory("v/n")
        try tree.received("v/n/n-1")
        try tree.symlink("v/n/n", to: "n-1")
        try tree.subvolume("v/n/n-default-1-1")
        try Shell.run(["chattr", "+i", tree.path("v/m/m-default-1-1")])
        try Shell.run(["chattr", "+a", tree.path("v/n")])
        let result = try Binary.run(["cleanup", "--root", tree.root, "--toolchain", "default"])
        try Shell.run(["chattr", "-i", tree.path("v/m/m-default-1-1")])
        try Shell.run(["chattr", "-a", tree.path("v/n")])
        let cause =
            "unable to delete subvolume: operation not permitted: immutable or append-only (it or its directory; "
            + "see lsattr), a btrfs send of it under way, an active swap file in it, or the filesystem's default "
            + "subvolume (EPERM)"
        #expect(
            result.outputLines == [
                "invalid entries in \(tree.root)/, halting",
                "  \(tree.path("v/m/m-default-1-1")): error: \(cause)",
                "  \(tree.path("v/n/n-default-1-1")): error: \(cause)",
                "correct and restart the monitor (systemctl restart buildos)",
            ])
        #expect(result.status == 1)
        #expect(try tree.names("v/m") == ["m", "m-1", "m-default-1-1"])
        #expect(try tree.names("v/n") == ["n", "n-1", "n-default-1-1"])
        await tree.remove()
    }

    @Test("a missing root is an error that halts")
    func missingRoot() throws {
        try requireRealBackend()
        let result = try Binary.run(["cleanup", "--root", "/nonexistent/machines", "--toolchain", "default"])
        #expect(
            result.outputLines == [
                "invalid entries in /nonexistent/machines/, halting",
                "  /nonexistent/machines: error: unable to open machines root: no such file or directory (ENOENT)",
                "correct and restart the monitor (systemctl restart buildos)",
            ])
        #expect(result.status == 1)
        // The root's own line without the trailing slashes given.
        let slashes = try Binary.run(["cleanup", "--root", "/nonexistent/machines//", "--toolchain", "default"])
        #expect(slashes.outputLines == result.outputLines)
    }

    @Test("fuzz --real --save: a differential failure exits 1 and is saved as a scenario file naming its oracle and seed")
    func fuzzSavesFailures() throws {
        try requireRealBackend()
        // A read-only subvolume: on btrfs (a directory elsewhere is refused
        // with 64), but no case tree can be made in it, on the real side.
        let readOnly = RealBackendAvailability.mountPoint + "/read-only-\(getpid())"
        try Shell.run(["btrfs", "-q", "subvolume", "create", readOnly])
        try Shell.run(["btrfs", "property", "set", readOnly, "ro", "true"])
        defer {
            _ = try? Shell.run(["btrfs", "property", "set", readOnly, "ro", "false"])
            _ = try? Shell.run(["btrfs", "-q", "subvolume", "delete", readOnly])
        }
        let save = NSTemporaryDirectory() + "fuzz-save-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: save, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: save) }
        let result = try Binary.run([
            "fuzz", "--real", readOnly, "--seed", "0x2a", "--cases", "3", "--no-shrink", "--save", save,
        ])
        #expect(result.status == 1, "\(result.standardError)")
        let files = try FileManager.default.contentsOfDirectory(atPath: save)
        #expect(files == ["fuzz-0x000000000000002a-differential.yaml"])
        let text = try String(contentsOfFile: save + "/" + (files.first ?? ""), encoding: .utf8)
        #expect(text.contains("# Oracle: differential"))
        #expect(text.contains("# Seed: 0x000000000000002a"))
        #expect(result.standardOutput.contains("FAIL differential: 3 cases"))
        #expect(result.standardOutput.contains(save + "/fuzz-0x000000000000002a-differential.yaml"))
        // The file is a scenario `scenario run` replays: on SimFS alone the
        // tree cleans up as the rules say.
        let replay = try Binary.run(["scenario", "run", save + "/" + (files.first ?? "")])
        #expect(replay.status == 0, "\(replay.standardOutput)\(replay.standardError)")
        #expect(replay.standardOutput.hasPrefix("pass "))
    }
}
