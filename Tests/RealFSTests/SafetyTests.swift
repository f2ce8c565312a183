import Cleanup
import FSProtocol
import MachineLayout
import Foundation
import Testing
import TestSupport

@testable import RealFS

/// The real backend's safety promises, each proven on a real btrfs.
@Suite(
    "RealFS safety on a real btrfs",
    .enabled(if: realBackendRuns, Comment(rawValue: RealBackendAvailability.problem ?? "")))
struct SafetyTests {
    /// Machine `v/m`: its read-only revision `m-1` and link, and the
    /// writable working snapshot `m-default-1-1` a boot cleanup deletes.
    func linkedMachineWithStray(in tree: RealTree) throws {
        try tree.directory("v/m")
        try tree.subvolume("v/m/m-1", readOnly: true)
        try tree.symlink("v/m/m", to: "m-1")
        try tree.subvolume("v/m/m-default-1-1")
    }

    func boot(_ tree: RealTree, as credentials: Credentials? = nil) async throws -> Report {
        let fs = credentials.map { RealFileSystemForTests.make(as: $0) } ?? RealFileSystemForTests.make()
        return await CleanupRun(fileSystem: fs, root: tree.root, toolchains: ToolchainSet([.default])).run().report
    }

    /// The dry run and the boot cleanup of a tree, each expected to print
    /// `expected` (the dry run foresees every refusal); the run's report.
    func dryRunAndBoot(
        _ tree: RealTree, expecting expected: [String], sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Report {
        let dry = await CleanupRun(fileSystem: RealFileSystemForTests.make(), root: tree.root, toolchains: ToolchainSet([.default]))
            .run(dryRun: true).report
        #expect(lines(dry) == expected, "dry run", sourceLocation: sourceLocation)
        let report = try await boot(tree)
        #expect(lines(report) == expected, "run", sourceLocation: sourceLocation)
        return report
    }

    @Test("only descriptor-based libbtrfsutil calls are linked, never a path-based one")
    func onlyDescriptorCalls() throws {
        let imports = try Shell.run(["nm", "-D", "--undefined-only", Binary.path])
        let used = imports.split(separator: "\n").compactMap { line in
            line.split(separator: " ").last.map { String($0.split(separator: "@")[0]) }
        }.filter { $0.hasPrefix("btrfs_util_") }.sorted()
        let descriptorCalls: Set<String> = [
            "btrfs_util_create_snapshot_fd2", "btrfs_util_create_subvolume_fd",
            "btrfs_util_create_subvolume_iterator_fd", "btrfs_util_delete_subvolume_by_id_fd",
            "btrfs_util_delete_subvolume_fd", "btrfs_util_destroy_subvolume_iterator", "btrfs_util_is_subvolume_fd",
            "btrfs_util_set_subvolume_read_only_fd", "btrfs_util_subvolume_id_fd", "btrfs_util_subvolume_info_fd",
            "btrfs_util_subvolume_iterator_next", "btrfs_util_sync_fd",
        ]
        #expect(!used.isEmpty)
        #expect(used.filter { !descriptorCalls.contains($0) } == [])
    }

    @Test("a stray name that is a link to a subvolume with nested ones: nothing behind the link is deleted")
    func linkToNestedIsNotFollowed() async throws {
        try requireRealBackend()
        let tree = try RealTree()
        try tree.directory("v/m")
        try tree.subvolume("v/m/m-2")
        try tree.subvolume("v/m/m-2/inner")
        try tree.symlink("v/m/m", to: "m-2")
        try tree.symlink("v/m/m-default-1-1", to: "m-2")
        let report = try await boot(tree)
        #expect(lines(report) == [tree.path("v/m/m-default-1-1") + ": warning: symbolic link, kept, not followed"])
        #expect(tree.exists("v/m/m-2/inner/disk.img"))
        await tree.remove()
    }

    @Test("the identity is re-checked: a subvolume swapped in after the scan is kept")
    func identityRecheck() async throws {
        try requireRealBackend()
        let tree = try RealTree()
        try linkedMachineWithStray(in: tree)
        let fs = RealFileSystemForTests.make()
        let plan = try await CleanupRun(fileSystem: fs, root: tree.root, toolchains: ToolchainSet([.default])).plan().get()
        try Shell.run(["btrfs", "-q", "subvolume", "delete", tree.path("v/m/m-default-1-1")])
        try tree.subvolume("v/m/m-default-1-1")
        let report = await Applier(fileSystem: fs).apply(plan)
        #expect(lines(report) == [tree.path("v/m/m-default-1-1") + ": warning: changed since scan, kept"])
        #expect(tree.exists("v/m/m-default-1-1/disk.img"))
        await tree.remove()
    }

    @Test("a writable stray in a read-only parent subvolume: EROFS names the parent or the file system, not the stray")
    func readOnlyParent() async throws {
        try requireRealBackend()
        let tree = try RealTree()
        // The volume a subvolume of its own, with nothing else in it.
        try Shell.run(["btrfs", "-q", "subvolume", "create", tree.path("v")])
        try linkedMachineWithStray(in: tree)
        try tree.setReadOnly("v")
        let report = try await boot(tree)
        #expect(
            lines(report) == [
                tree.path("v/m/m-default-1-1")
                    + ": error: unable to delete subvolume: read-only parent subvolume or file system (EROFS)"
            ])
        #expect(report.exitStatus == 1)
        #expect(tree.exists("v/m/m-default-1-1"))
        #expect(try !tree.isReadOnly("v/m/m-default-1-1"))
        try tree.setReadOnly("v", false)
        await tree.remove()
    }

    @Test("a subvolume with a mount inside is refused, with a line naming the mount")
    func mountInside() async throws {
        try requireRealBackend()
        let tree = try RealTree()
        try linkedMachineWithStray(in: tree)
        try tree.directory("v/m/m-default-1-1/mnt")
        try Shell.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", tree.path("v/m/m-default-1-1/mnt")])
        let refusal = [
            tree.path("v/m/m-default-1-1")
                + ": error: unable to delete subvolume: mount point inside: " + tree.path("v/m/m-default-1-1/mnt")
        ]
        _ = try await dryRunAndBoot(tree, expecting: refusal)
        #expect(try Shell.run(["findmnt", "-n", tree.path("v/m/m-default-1-1/mnt")]).contains("tmpfs"))
        await tree.remove()
    }

    @Test(
        "a subvolume bind-mounted over a stray's name is refused for its mount, by the run as by the dry run, and nothing goes; the link-less machine holding one keeps its directory with ENOTEMPTY"
    )
    func bindMountOverName() async throws {
        try requireRealBackend()
        let tree = try RealTree()
        try linkedMachineWithStray(in: tree)
        try tree.directory("v/n")
        try tree.subvolume("v/n/n-1", readOnly: true)
        try tree.subvolume("v/n/n-gcc")
        let over = [tree.path("v/m/m-default-1-1"), tree.path("v/n/n-1")]
        try Shell.run(["mount", "--bind", tree.path("v/m/m-1"), over[0]])
        try Shell.run(["mount", "--bind", tree.path("v/n/n-gcc"), over[1]])
        defer { for path in over { _ = try? Shell.run(["umount", "-l", path]) } }
        let expected = [
            "\(over[0]): error: unable to delete subvolume: mount point inside: \(over[0])",
            "\(over[1]): error: unable to delete subvolume: mount point inside: \(over[1])",
            // The subvolume mounted over n-1's name is itself to go: it is
            // mounted, there.
            "\(tree.path("v/n/n-gcc")): error: unable to delete subvolume: mounted elsewhere: \(over[1])",
            "\(tree.path("v/n")): error: unable to delete machine directory: directory not empty (ENOTEMPTY)",
        ]
        let report = try await dryRunAndBoot(tree, expecting: expected)
        #expect(report.exitStatus == 1)
        for path in over { try Shell.run(["umount", path]) }
        #expect(try tree.names("v/m") == ["m", "m-1", "m-default-1-1"])
        #expect(try tree.names("v/n") == ["n-1", "n-gcc"])
        await tree.remove()
    }

    @Test(
        "a stray bind-mounted elsewhere (over the current target's name, or outside the root) is refused, by the run as by the dry run"
    )
    func mountedElsewhere() async throws {
        try requireRealBackend()
        let tree = try RealTree()
        try tree.directory("v/m")
        try tree.subvolume("v/m/m-1", readOnly: true)
        try tree.subvolume("v/m/m-2", readOnly: true)
        try tree.symlink("v/m/m", to: "m-2")
        try tree.subvolume("v/m/m-default-1-1")
        try tree.directory("v/m/m-default-1-1/d")
        // Machine k has lost its link: k-2 is to go.
        try tree.directory("v/k")
        try tree.subvolume("v/k/k-2", readOnly: true)
        // Outside the machines root (here, on another filesystem).
        let elsewhere = NSTemporaryDirectory() + "elsewhere-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: elsewhere) }
        let mounts = [tree.path("v/m/m-2"), elsewhere]
        try Shell.run(["mount", "--bind", tree.path("v/m/m-default-1-1"), mounts[0]])
        try Shell.run(["mount", "--bind", tree.path("v/k/k-2"), mounts[1]])
        defer { for path in mounts { _ = try? Shell.run(["umount", "-l", path]) } }
        let expected = [
            "\(tree.path("v/k/k-2")): error: unable to delete subvolume: mounted elsewhere: \(mounts[1])",
            "\(tree.path("v/k")): error: unable to delete machine directory: directory not empty (ENOTEMPTY)",
            "\(tree.path("v/m/m-default-1-1")): error: unable to delete subvolume: mounted elsewhere: \(mounts[0])",
        ]
        let report = try await dryRunAndBoot(tree, expecting: expected)
        #expect(report.exitStatus == 1)
        #expect(report.decisions.first { $0.item.path.entry?.rawValue == "k-2" }?.outcome == .refused(mountPoints: [mounts[1]]))
        for path in mounts { try Shell.run(["umount", path]) }
        #expect(try tree.names("v/m") == ["m", "m-1", "m-2", "m-default-1-1"])
        #expect(try tree.names("v/k") == ["k-2"])
        #expect(try tree.names("v/m/m-default-1-1") == ["d", "disk.img"])
        await tree.remove()
    }

    @Test("a mount of a subvolume elsewhere is matched by its filesystem's device and its id, its nested subvolumes' too")
    func mountsOfMatchDeviceAndNested() async throws {
        try requireRealBackend()
        let tree = try RealTree()
        try tree.directory("v")
        try tree.subvolume("v/s")
        try tree.subvolume("v/s/nested")
        func id(_ relative: String) throws -> String {
            try Shell.sh("btrfs inspect-internal rootid '\(tree.path(relative))'").trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let (outer, nested) = (try id("v/s"), try id("v/s/nested"))
        let device = try Shell.run(["findmnt", "-no", "MAJ:MIN", "-T", tree.root]).trimmingCharacters(in: .whitespacesAndNewlines)
        // This process's table, and lines a test writes: the same ids on
        // another filesystem's device, then on this one's.
        let real = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
        func table(_ lines: [String]) throws -> String {
            let file = tree.path("mountinfo-\(lines.count)")
            try (real + lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
            return file
        }
        let other = [
            "9001 1 250:7 /x /other/outer rw - btrfs /dev/other rw,subvolid=\(outer),subvol=/x",
            "9002 1 250:7 /y /other/nested rw - btrfs /dev/other rw,subvolid=\(nested),subvol=/y",
        ]
        let same = [
            "9003 1 \(device) /v/s /here/outer rw - btrfs /dev/this rw,subvolid=\(outer),subvol=/v/s",
            "9004 1 \(device) /v/s/nested /here/nested rw - btrfs /dev/this rw,subvolid=\(nested),subvol=/v/s/nested",
        ]
        let elsewhere = RealFileSystem(mountInfo: try table(other))
        let here = RealFileSystem(mountInfo: try table(other + same))
        let machine = try await here.openRoot(tree.path("v"))
        let s = try await here.openDirectory("s", in: machine)
        #expect(try await elsewhere.mountPoints(of: s) == [])
        #expect(try await here.mountPoints(of: s) == ["/here/nested", "/here/outer"])
        let inner = try await here.openDirectory("nested", in: s)
        #expect(try await here.mountPoints(of: inner) == ["/here/nested"])
        for handle in [inner, s, machine] { await here.close(handle) }
        await tree.remove()
    }

    @Test("the mount check sees mounts deep inside, on the subvolume, in a stray named as deleted; none elsewhere")
    func mountCheckShortcutHidesNothing() async throws {
        try requireRealBackend()
        let tree = try RealTree()
        try tree.directory("v/m")
        try tree.subvolume("v/m/deep")
        try tree.directory("v/m/deep/a/b")
        try tree.subvolume("v/m/bound")
        try tree.subvolume("v/m/beside")
        try tree.directory("v/m/beside-mnt")
        try tree.subvolume("v/m/m-default-1 (deleted)")
        try tree.directory("v/m/m-default-1 (deleted)/mnt")
        try tree.subvolume("v/m/gone")
        let fs = RealFileSystemForTests.make()
        let machine = try await fs.openRoot(tree.path("v/m"))
        let deep = try await fs.openDirectory("deep", in: machine)
        let beside = try await fs.openDirectory("beside", in: machine)
        let named = try await fs.openDirectory("m-default-1 (deleted)", in: machine)
        let gone = try await fs.openDirectory("gone", in: machine)
        try await fs.deleteSubvolume("gone", in: machine)
        #expect(try await fs.mountPoints(inside: deep).isEmpty)
        let mounts = ["v/m/deep/a/b", "v/m/bound", "v/m/beside-mnt", "v/m/m-default-1 (deleted)/mnt"]
        defer { for path in mounts { _ = try? Shell.run(["umount", "-l", tree.path(path)]) } }
        try Shell.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", tree.path("v/m/deep/a/b")])
        try Shell.run(["mount", "--bind", tree.path("v/m/bound"), tree.path("v/m/bound")])
        try Shell.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", tree.path("v/m/beside-mnt")])
        try Shell.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", tree.path("v/m/m-default-1 (deleted)/mnt")])
        // Opened through the bind mount: the subvolume is that mount's root.
        let bound = try await fs.openDirectory("bound", in: machine)
        #expect(try await fs.mountPoints(inside: deep) == [tree.path("v/m/deep/a/b")])
        #expect(try await fs.mountPoints(inside: bound) == [tree.path("v/m/bound")])
        #expect(try await fs.mountPoints(inside: named) == [tree.path("v/m/m-default-1 (deleted)/mnt")])
        #expect(try await fs.mountPoints(inside: beside).isEmpty)
        #expect(try await fs.mountPoints(inside: gone).isEmpty)
        for handle in [named, gone, bound] { await fs.close(handle) }
        for path in mounts { try Shell.run(["umount", tree.path(path)]) }
        let unbound = try await fs.openDirectory("bound", in: machine)
        #expect(try await fs.mountPoints(inside: deep).isEmpty)
        #expect(try await fs.mountPoints(inside: unbound).isEmpty)
        for handle in [deep, beside, unbound, machine] { await fs.close(handle) }
        await tree.remove()
    }

    @Test("on a filesystem that is not btrfs, a btrfs mounted on a name that is not UTF-8 lists as a subvolume")
    func mountCheckByBytes() async throws {
        try requireRealBackend()
        let tree = try RealTree()
        try tree.directory("t")
        try tree.directory("v")
        try tree.subvolume("v/s")
        let tmpfs = tree.path("t")
        let mounted = "\"$(printf '\(tmpfs)/m-\\377')\""
        try Shell.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", tmpfs])
        defer { _ = try? Shell.run(["umount", "-R", "-l", tmpfs]) }
        try Shell.sh("mkdir \(mounted) && mount --bind \(tree.path("v/s")) \(mounted)")
        let fs = RealFileSystemForTests.make()
        let directory = try await fs.openRoot(tmpfs)
        let entries = try await fs.list(directory)
        #expect(entries.map(\.status.kind) == [.subvolume])
        await fs.close(directory)
        try Shell.run(["umount", "-R", tmpfs])
        await tree.remove()
    }

    @Test("a mount inside a subvolume on a directory whose name is not UTF-8 is named as a listing names it")
    func mountOnUndecodableName() async throws {
        try requireRealBackend()
        let tree = try RealTree()
        try tree.directory("v/m")
        try tree.subvolume("v/m/m-default-1-1")
        let mountPoint = "\"$(printf '\(tree.path("v/m/m-default-1-1"))/d\\377')\""
        try Shell.sh("mkdir \(mountPoint) && mount -t tmpfs -o size=1m tmpfs \(mountPoint)")
        defer { _ = try? Shell.sh("umount -l \(mountPoint)") }
        let fs = RealFileSystemForTests.make()
        let machine = try await fs.openRoot(tree.path("v/m"))
        let subvolume = try await fs.openDirectory("m-default-1-1", in: machine)
        #expect(try await fs.mountPoints(inside: subvolume) == [tree.path("v/m/m-default-1-1") + "/d\\xff"])
        let listed = try await fs.list(subvolume).map(\.name.rawValue)
        #expect(listed.contains("d\\xff"))
        for handle in [subvolume, machine] { await fs.close(handle) }
        try Shell.sh("umount \(mountPoint)")
        await tree.remove()
    }

    @Test("read-only is never changed: unprivileged, a read-only stray fails with EROFS and stays read-only")
    func readOnlyIsNeverChanged() async throws {
        try requireRealBackend()
        let tree = try RealTree()
        try tree.directory("v/m")
        try tree.subvolume("v/m/m-1")
        try tree.symlink("v/m/m", to: "m-1")
        try tree.subvolume("v/m/m-default-1-1")
        try tree.subvolume("v/m/m-default-1-2")
        try Shell.run(["chown", "-R", "-h", "\(unprivilegedUser):\(unprivilegedUser)", tree.path("v")])
        for readOnly in ["v/m/m-1", "v/m/m-default-1-1"] {
            try Shell.run(["btrfs", "property", "set", "-ts", tree.path(readOnly), "ro", "true"])
        }
        let report = try await boot(tree, as: Credentials(user: unprivilegedUser, group: unprivilegedUser))
        #expect(
            lines(report) == [
                tree.path("v/m/m-default-1-1") + ": error: unable to delete subvolume: read-only subvolume, run as root (EROFS)",
                tree.path("v/m/m-default-1-2") + ": info: deleted subvolume",
            ])
        #expect(try tree.isReadOnly("v/m/m-default-1-1"))
        #expect(try tree.isReadOnly("v/m/m-1"))
        await tree.remove()
    }

    @Test("the deletions are synced: a crash right after the cleanup does not bring them back")
    func deletionsSurviveACrash() async throws {
        try requireRealBackend()
        let filesystem = try LoopFilesystem(name: "crash-\(getpid())-\(UUID().uuidString.prefix(6))", userSubvolumeRemovalAllowed: true)
        defer { filesystem.tearDown() }
        let root = filesystem.mountPoint
        try FileManager.default.createDirectory(atPath: root + "/v/m", withIntermediateDirectories: true)
        for name in ["m-1", "m-default-1-1", "m-default-1-2", "control"] {
            try Shell.run(["btrfs", "-q", "subvolume", "create", root + "/v/m/" + name])
        }
        try FileManager.default.createSymbolicLink(atPath: root + "/v/m/m", withDestinationPath: "m-1")
        try Shell.run(["btrfs", "filesystem", "sync", root])
        // A delete without a sync, the control: it comes back.
        try Shell.run(["btrfs", "-q", "subvolume", "delete", root + "/v/m/control"])
        try filesystem.crash()
        #expect(FileManager.default.fileExists(atPath: root + "/v/m/control"))
        try Shell.run(["rm", "-f", root + "/v/m/control/.keep"])
        let report = await CleanupRun(
            fileSystem: RealFileSystemForTests.make(), root: root, toolchains: ToolchainSet([.default])
        ).run().report
        #expect(report.syncedVolumes == ["v"])
        #expect(lines(report).filter { $0.contains("info: deleted subvolume") }.count == 2)
        try filesystem.crash()
        let left = try FileManager.default.contentsOfDirectory(atPath: root + "/v/m").sorted()
        #expect(left == ["control", "m", "m-1"])
    }
}

func lines(_ report: Report) -> [String] { report.diagnostics.map(\.line) }
