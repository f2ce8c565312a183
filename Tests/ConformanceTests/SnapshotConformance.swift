import FSProtocol
import Testing
import TestSupport

/// SPEC §5: snapshots and the read-only property, on every backend.
@Suite("Conformance: snapshots and read-only")
struct SnapshotConformance {
    @Test("a snapshot of a read-only subvolume without the flag is writable", arguments: Backends.all)
    func snapshotOfReadOnlyIsWritable(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("m-1", in: directory)
            let revision = try await fs.openDirectory("m-1", in: directory)
            try await fs.writeFile("disk.img", in: revision, "image")
            try await fs.setReadOnly(true, of: revision)
            try await fs.snapshot(revision, as: "m-default-1-1", in: directory, readOnly: false)
            let original = try await fs.subvolumeInfo(of: revision)
            let working = try await fs.openDirectory("m-default-1-1", in: directory)
            let info = try await fs.subvolumeInfo(of: working)
            #expect(!info.isReadOnly)
            #expect(info.parentUUID == original.uuid)
            #expect(info.uuid != original.uuid)
            try await fs.writeFile("log", in: working, "built")
            #expect(try await fs.names(working) == ["disk.img", "log"])
            await fs.close(working)
            await fs.close(revision)
        }
    }

    @Test("a snapshot to an existing name gives EEXIST", arguments: Backends.all)
    func snapshotOverExisting(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("source", in: directory)
            try await fs.createSubvolume("taken", in: directory)
            try await fs.makeDirectory("plain", in: directory)
            let source = try await fs.openDirectory("source", in: directory)
            await #expect(throws: FSError(.exists, .snapshot, name: "taken")) {
                try await fs.snapshot(source, as: "taken", in: directory, readOnly: false)
            }
            await #expect(throws: FSError(.exists, .snapshot, name: "plain")) {
                try await fs.snapshot(source, as: "plain", in: directory, readOnly: false)
            }
            #expect(try await fs.names(directory) == ["plain", "source", "taken"])
            await fs.close(source)
        }
    }

    @Test(
        "`btrfs subvolume snapshot` to an existing directory puts the snapshot inside it and succeeds",
        arguments: Backends.all)
    func shellSnapshotIntoExisting(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("m-default", in: directory)
            try await fs.createSubvolume("m-default-100-1", in: directory)
            try await fs.makeDirectory("plain", in: directory)
            try await sandbox.shellSnapshot("m-default", "m-default-100-1")
            try await sandbox.shellSnapshot("m-default", "plain")
            try await sandbox.shellSnapshot("m-default", "fresh")
            #expect(try await fs.names(directory) == ["fresh", "m-default", "m-default-100-1", "plain"])
            try await fs.withDirectory("m-default-100-1", in: directory) { stale throws(FSError) in
                #expect(try await fs.status(of: "m-default", in: stale).kind == .subvolume)
            }
            try await fs.withDirectory("plain", in: directory) { plain throws(FSError) in
                #expect(try await fs.status(of: "m-default", in: plain).kind == .subvolume)
            }
            #expect(try await fs.status(of: "fresh", in: directory).kind == .subvolume)
        }
    }

    @Test("a snapshot of a directory that is no subvolume root gives EINVAL", arguments: Backends.all)
    func snapshotOfPlainDirectory(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.makeDirectory("plain", in: directory)
            let plain = try await fs.openDirectory("plain", in: directory)
            await #expect(throws: FSError(.invalidArgument, .snapshot, name: "copy")) {
                try await fs.snapshot(plain, as: "copy", in: directory, readOnly: false)
            }
            await fs.close(plain)
        }
    }

    @Test("nested subvolumes are not part of a snapshot: an empty directory stands in", arguments: Backends.all)
    func snapshotLeavesPlaceholder(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("outer", in: directory)
            let outer = try await fs.openDirectory("outer", in: directory)
            try await fs.createSubvolume("inner", in: outer)
            try await fs.snapshot(outer, as: "copy", in: directory, readOnly: false)
            let copy = try await fs.openDirectory("copy", in: directory)
            let placeholder = try await fs.status(of: "inner", in: copy)
            #expect(placeholder.kind == .directory)
            #expect(placeholder.identity.inode == 2)
            #expect(try await fs.nestedSubvolumes(of: copy).isEmpty)
            try await fs.removeDirectory("inner", in: copy)
            try await fs.deleteSubvolume("copy", in: directory)
            await fs.close(copy)
            await fs.close(outer)
        }
    }

    @Test("an unprivileged user snapshots and flips only the subvolumes it owns", arguments: Backends.all)
    func ownership(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let (user, home) = try await userHome(sandbox, directory)
            let root = sandbox.root
            let rootHome = try await root.openDirectory("home", in: directory)
            try await root.createSubvolume("roots", in: rootHome)
            let roots = try await user.openDirectory("roots", in: home)
            await #expect(throws: FSError(.notPermitted, .snapshot, name: "copy")) {
                try await user.snapshot(roots, as: "copy", in: home, readOnly: false)
            }
            await #expect(throws: FSError(.notPermitted, .setReadOnly)) {
                try await user.setReadOnly(true, of: roots)
            }
            try await root.changeOwner(of: "roots", in: rootHome, owner: unprivilegedUser, group: unprivilegedUser)
            try await user.snapshot(roots, as: "copy", in: home, readOnly: false)
            #expect(try await user.status(of: "copy", in: home).owner == unprivilegedUser)
            await user.close(roots)
            await root.close(rootHome)
        }
    }

    @Test("read-only is set while a writer holds a descriptor, and that descriptor still writes", arguments: Backends.all)
    func readOnlyWhileWriting(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("s", in: directory)
            let s = try await fs.openDirectory("s", in: directory)
            let file = try await fs.openFile("data", in: s, options: [.create, .write])
            try await fs.setReadOnly(true, of: s)
            #expect(try await fs.subvolumeInfo(of: s).isReadOnly)
            try await fs.write(Array("still".utf8), to: file)
            #expect(try await fs.readAll(file) == Array("still".utf8))
            await #expect(throws: FSError(.readOnly, .openFile, name: "new")) {
                try await fs.openFile("new", in: s, options: [.create, .write])
            }
            await #expect(throws: FSError(.readOnly, .openFile, name: "data")) {
                try await fs.openFile("data", in: s, options: [.write])
            }
            await fs.close(file)
            try await fs.setReadOnly(false, of: s)
            await fs.close(s)
        }
    }

    @Test("the owner of a read-only subvolume cannot change (chown gives EROFS)", arguments: Backends.all)
    func chownReadOnly(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("s", in: directory)
            try await fs.withDirectory("s", in: directory) { s throws(FSError) in try await fs.setReadOnly(true, of: s) }
            await #expect(throws: FSError(.readOnly, .changeOwner, name: "s")) {
                try await fs.changeOwner(of: "s", in: directory, owner: unprivilegedUser, group: unprivilegedUser)
            }
        }
    }

    @Test("clearing read-only on a received subvolume keeps its received UUID", arguments: Backends.all)
    func receivedKeepsUUID(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await sandbox.receiveSubvolume(at: "m-1")
            let image = try await fs.openDirectory("m-1", in: directory)
            let received = try await fs.subvolumeInfo(of: image)
            #expect(received.isReadOnly)
            #expect(!received.receivedUUID.isZero)
            try await fs.setReadOnly(false, of: image)
            let flipped = try await fs.subvolumeInfo(of: image)
            #expect(!flipped.isReadOnly)
            #expect(flipped.receivedUUID == received.receivedUUID)
            await fs.close(image)
        }
    }

    @Test("a read-only snapshot of a received subvolume keeps its received UUID; a writable one does not", arguments: Backends.all)
    func readOnlySnapshotKeepsReceivedUUID(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await sandbox.receiveSubvolume(at: "m-1")
            let image = try await fs.openDirectory("m-1", in: directory)
            let received = try await fs.subvolumeInfo(of: image)
            try await fs.snapshot(image, as: "ro", in: directory, readOnly: true)
            try await fs.snapshot(image, as: "rw", in: directory, readOnly: false)
            await fs.close(image)
            let ro = try await fs.withDirectory("ro", in: directory) { d throws(FSError) in try await fs.subvolumeInfo(of: d) }
            let rw = try await fs.withDirectory("rw", in: directory) { d throws(FSError) in try await fs.subvolumeInfo(of: d) }
            #expect(ro.isReadOnly)
            #expect(ro.receivedUUID == received.receivedUUID)
            #expect(!rw.isReadOnly)
            #expect(rw.receivedUUID == .zero)
        }
    }

    @Test("a snapshot's stand-in for a nested subvolume takes the owner of its directory, 0755", arguments: Backends.all)
    func placeholderOwner(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let (user, home) = try await userHome(sandbox, directory)
            try await user.createSubvolume("outer", in: home)
            let outer = try await user.openDirectory("outer", in: home)
            // The nested subvolume is root's, its directory the user's.
            let root = sandbox.root
            try await root.withDirectory("home", in: directory) { h throws(FSError) in
                try await root.withDirectory("outer", in: h) { o throws(FSError) in try await root.createSubvolume("inner", in: o) }
            }
            #expect(try await user.status(of: "inner", in: outer).owner == 0)
            try await user.snapshot(outer, as: "copy", in: home, readOnly: false)
            // Root looks first (the kernel makes the stand-in at lookup).
            let rootHome = try await root.openDirectory("home", in: directory)
            let looked = try await root.withDirectory("copy", in: rootHome) { c throws(FSError) in try await root.status(of: "inner", in: c) }
            await root.close(rootHome)
            let copy = try await user.openDirectory("copy", in: home)
            let placeholder = try await user.status(of: "inner", in: copy)
            #expect(looked == placeholder)
            #expect(placeholder.kind == .directory)
            #expect(placeholder.owner == unprivilegedUser && placeholder.group == unprivilegedUser, "\(placeholder.owner):\(placeholder.group) \(String(placeholder.permissions, radix: 8))")
            #expect(placeholder.permissions == 0o755)
            await user.close(copy)
            await user.close(outer)
        }
    }

    @Test(
        "a snapshot's stand-in for a nested subvolume takes no entry (EPERM; a file EACCES; a subvolume or an unnamed file ENOTTY or EOPNOTSUPP), cannot move (ENOTEMPTY), and goes with rmdir",
        arguments: Backends.all)
    func placeholderIsInert(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("outer", in: directory)
            let outer = try await fs.openDirectory("outer", in: directory)
            try await fs.createSubvolume("inner", in: outer)
            try await fs.snapshot(outer, as: "copy", in: directory, readOnly: false)
            let copy = try await fs.openDirectory("copy", in: directory)
            let placeholder = try await fs.openDirectory("inner", in: copy)
            await #expect(throws: FSError(.notPermitted, .makeDirectory, name: "d")) {
                try await fs.makeDirectory("d", in: placeholder)
            }
            await #expect(throws: FSError(.notPermitted, .createSymlink, name: "l")) {
                try await fs.createSymlink("l", in: placeholder, target: "x")
            }
            await #expect(throws: FSError(.accessDenied, .openFile, name: "f")) {
                try await fs.openFile("f", in: placeholder, options: [.create, .write])
            }
            await #expect(throws: FSError(.notSupported, .createFile, name: "f")) {
                try await fs.createFile("f", in: placeholder, owner: 0, group: 0)
            }
            await #expect(throws: FSError(.notSupported, .createSubvolume, name: "s")) {
                try await fs.createSubvolume("s", in: placeholder)
            }
            await #expect(throws: FSError(.notSupported, .snapshot, name: "s")) {
                try await fs.snapshot(outer, as: "s", in: placeholder, readOnly: false)
            }
            try await fs.makeDirectory("d", in: copy)
            await #expect(throws: FSError(.notPermitted, .rename, name: "d", destination: "d")) {
                try await fs.rename("d", in: copy, to: "d", in: placeholder, mode: .noReplace)
            }
            await #expect(throws: FSError(.notEmpty, .rename, name: "inner", destination: "moved")) {
                try await fs.rename("inner", in: copy, to: "moved", in: copy, mode: .noReplace)
            }
            #expect(try await fs.list(placeholder).isEmpty)
            // No btrfs ioctl works on its descriptor, the destructive ones
            // included.
            let innerID = try await fs.withDirectory("inner", in: outer) { i throws(FSError) in try await fs.subvolumeID(of: i) }
            await #expect(throws: FSError(.notSupported, .deleteSubvolumeByID, subvolume: innerID)) {
                try await fs.deleteSubvolume(id: innerID, via: placeholder)
            }
            await #expect(throws: FSError(.notSupported, .deleteSubvolume, name: "x")) {
                try await fs.deleteSubvolume("x", in: placeholder)
            }
            await #expect(throws: FSError(.notSupported, .setReadOnly)) { try await fs.setReadOnly(true, of: placeholder) }
            await #expect(throws: FSError(.notSupported, .sync)) { try await fs.sync(placeholder) }
            #expect(try await fs.names(outer) == ["inner"])
            // A user who may not write it is refused for that first
            // (EACCES), as in any directory of root's.
            let user = try await sandbox.user(unprivilegedUser, group: unprivilegedUser)
            let top = try await sandbox.open(as: user)
            let usersCopy = try await user.openDirectory("copy", in: top)
            let usersPlaceholder = try await user.openDirectory("inner", in: usersCopy)
            await #expect(throws: FSError(.accessDenied, .makeDirectory, name: "d")) {
                try await user.makeDirectory("d", in: usersPlaceholder)
            }
            await #expect(throws: FSError(.accessDenied, .createSymlink, name: "l")) {
                try await user.createSymlink("l", in: usersPlaceholder, target: "x")
            }
            await user.close(usersPlaceholder)
            await user.close(usersCopy)
            await user.close(top)
            await fs.close(placeholder)
            try await fs.removeDirectory("inner", in: copy)
            #expect(try await fs.names(copy) == ["d"])
            await fs.close(copy)
            await fs.close(outer)
        }
    }

    @Test("a read-only snapshot is read-only; a snapshot into a read-only subvolume gives EROFS", arguments: Backends.all)
    func readOnlySnapshots(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("source", in: directory)
            try await fs.createSubvolume("frozen", in: directory)
            let source = try await fs.openDirectory("source", in: directory)
            let frozen = try await fs.openDirectory("frozen", in: directory)
            try await fs.snapshot(source, as: "ro", in: directory, readOnly: true)
            #expect(try await fs.withDirectory("ro", in: directory) { d throws(FSError) in try await fs.subvolumeInfo(of: d) }.isReadOnly)
            try await fs.setReadOnly(true, of: frozen)
            await #expect(throws: FSError(.readOnly, .snapshot, name: "copy")) {
                try await fs.snapshot(source, as: "copy", in: frozen, readOnly: false)
            }
            try await fs.setReadOnly(false, of: frozen)
            await fs.close(frozen)
            await fs.close(source)
        }
    }

    @Test("a snapshot into a directory the user cannot write gives EACCES", arguments: Backends.all)
    func snapshotNeedsWritableDestination(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let (user, home) = try await userHome(sandbox, directory)
            try await user.createSubvolume("mine", in: home)
            let mine = try await user.openDirectory("mine", in: home)
            let sandboxAsUser = try await sandbox.open(as: user)
            await #expect(throws: FSError(.accessDenied, .snapshot, name: "copy")) {
                try await user.snapshot(mine, as: "copy", in: sandboxAsUser, readOnly: false)
            }
            await user.close(sandboxAsUser)
            await user.close(mine)
        }
    }

    @Test("a snapshot onto a tmpfs gives ENOTTY", arguments: Backends.all)
    func snapshotOntoTmpfs(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("source", in: directory)
            let source = try await fs.openDirectory("source", in: directory)
            try await fs.makeDirectory("t", in: directory)
            try await sandbox.mountTmpfs(at: "t")
            let t = try await fs.openDirectory("t", in: directory)
            await #expect(throws: FSError(.notSupported, .snapshot, name: "copy")) {
                try await fs.snapshot(source, as: "copy", in: t, readOnly: false)
            }
            await fs.close(t)
            try await sandbox.unmount("t")
            await fs.close(source)
        }
    }

    @Test("setting read-only on a plain directory gives EINVAL", arguments: Backends.all)
    func setReadOnlyPlain(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.makeDirectory("plain", in: directory)
            let plain = try await fs.openDirectory("plain", in: directory)
            await #expect(throws: FSError(.invalidArgument, .setReadOnly)) { try await fs.setReadOnly(true, of: plain) }
            await fs.close(plain)
        }
    }

    @Test("a deleted subvolume's info, through a descriptor that outlived it, has no parent", arguments: Backends.all)
    func deletedSubvolumeInfo(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("s", in: directory)
            let s = try await fs.openDirectory("s", in: directory)
            let before = try await fs.subvolumeInfo(of: s)
            try await fs.deleteSubvolume("s", in: directory)
            let after = try await fs.subvolumeInfo(of: s)
            #expect(after.id == before.id)
            #expect(after.parentID == nil)
            await fs.close(s)
        }
    }
}
