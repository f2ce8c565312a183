import FSProtocol
import Testing
import TestSupport

/// SPEC §5: what deleting a subvolume does, on every backend.
@Suite("Conformance: deleting subvolumes")
struct DeletionConformance {
    @Test("root deletes a read-only subvolume", arguments: Backends.all)
    func rootDeletesReadOnly(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("s", in: directory)
            try await fs.withDirectory("s", in: directory) { s throws(FSError) in try await fs.setReadOnly(true, of: s) }
            try await fs.deleteSubvolume("s", in: directory)
            #expect(try await fs.names(directory) == [])
        }
    }

    @Test("its unprivileged owner gets EROFS for a read-only subvolume", arguments: Backends.all)
    func ownerGetsReadOnly(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let (user, home) = try await userHome(sandbox, directory)
            try await user.createSubvolume("s", in: home)
            try await user.withDirectory("s", in: home) { s throws(FSError) in try await user.setReadOnly(true, of: s) }
            await #expect(throws: FSError(.readOnly, .deleteSubvolume, name: "s")) {
                try await user.deleteSubvolume("s", in: home)
            }
            try await user.withDirectory("s", in: home) { s throws(FSError) in try await user.setReadOnly(false, of: s) }
            try await user.deleteSubvolume("s", in: home)
            #expect(try await user.names(home) == [])
        }
    }

    @Test("without user_subvol_rm_allowed its unprivileged owner gets EPERM, read-only or not", arguments: Backends.all)
    func ownerWithoutMountOption(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend, SandboxOptions(userSubvolumeRemovalAllowed: false)) { sandbox, directory in
            let (user, home) = try await userHome(sandbox, directory)
            try await user.createSubvolume("s", in: home)
            try await user.createSubvolume("r", in: home)
            try await user.withDirectory("r", in: home) { r throws(FSError) in try await user.setReadOnly(true, of: r) }
            await #expect(throws: FSError(.notPermitted, .deleteSubvolume, name: "s")) {
                try await user.deleteSubvolume("s", in: home)
            }
            await #expect(throws: FSError(.notPermitted, .deleteSubvolume, name: "r")) {
                try await user.deleteSubvolume("r", in: home)
            }
            #expect(try await user.names(home) == ["r", "s"])
        }
    }

    @Test("an unprivileged user cannot delete a writable subvolume root owns", arguments: Backends.all)
    func userCannotDeleteRootsSubvolume(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let (user, home) = try await userHome(sandbox, directory)
            let rootHome = try await sandbox.root.openDirectory("home", in: directory)
            try await sandbox.root.createSubvolume("s", in: rootHome)
            await #expect(throws: FSError(.accessDenied, .deleteSubvolume, name: "s")) {
                try await user.deleteSubvolume("s", in: home)
            }
            try await user.makeDirectory("plain", in: home)
            await #expect(throws: FSError(.invalidArgument, .deleteSubvolume, name: "plain")) {
                try await user.deleteSubvolume("plain", in: home)
            }
            await sandbox.root.close(rootHome)
        }
    }

    @Test("a subvolume holding a nested subvolume gives ENOTEMPTY", arguments: Backends.all)
    func nestedGivesNotEmpty(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("outer", in: directory)
            try await fs.withDirectory("outer", in: directory) { outer throws(FSError) in
                try await fs.createSubvolume("inner", in: outer)
            }
            await #expect(throws: FSError(.notEmpty, .deleteSubvolume, name: "outer")) {
                try await fs.deleteSubvolume("outer", in: directory)
            }
        }
    }

    @Test("a plain directory, a file and a missing name give EINVAL, ENOTDIR, ENOENT", arguments: Backends.all)
    func nonSubvolumes(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.makeDirectory("plain", in: directory)
            try await fs.writeFile("file", in: directory, "x")
            await #expect(throws: FSError(.invalidArgument, .deleteSubvolume, name: "plain")) {
                try await fs.deleteSubvolume("plain", in: directory)
            }
            await #expect(throws: FSError(.notDirectory, .deleteSubvolume, name: "file")) {
                try await fs.deleteSubvolume("file", in: directory)
            }
            await #expect(throws: FSError(.noEntry, .deleteSubvolume, name: "missing")) {
                try await fs.deleteSubvolume("missing", in: directory)
            }
            #expect(try await fs.names(directory) == ["file", "plain"])
        }
    }

    @Test("a symbolic link gives ENOTDIR and its target stays", arguments: Backends.all)
    func symlinkIsNotFollowed(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("m-2", in: directory)
            try await fs.createSymlink("m-latest", in: directory, target: "m-2")
            await #expect(throws: FSError(.notDirectory, .deleteSubvolume, name: "m-latest")) {
                try await fs.deleteSubvolume("m-latest", in: directory)
            }
            #expect(try await fs.status(of: "m-2", in: directory).kind == .subvolume)
            #expect(try await fs.names(directory) == ["m-2", "m-latest"])
        }
    }

    @Test("the default subvolume gives EPERM, by name and by id", arguments: Backends.all)
    func defaultSubvolume(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("d", in: directory)
            try await sandbox.setDefaultSubvolume("d")
            await #expect(throws: FSError(.notPermitted, .deleteSubvolume, name: "d")) {
                try await fs.deleteSubvolume("d", in: directory)
            }
            let id = try await fs.withDirectory("d", in: directory) { d throws(FSError) in try await fs.subvolumeID(of: d) }
            await #expect(throws: FSError(.notPermitted, .deleteSubvolumeByID, subvolume: id)) {
                try await fs.deleteSubvolume(id: id, via: directory)
            }
            // rmdir(2) deletes an empty subvolume, but not this one.
            await #expect(throws: FSError(.notPermitted, .removeDirectory, name: "d")) {
                try await fs.removeDirectory("d", in: directory)
            }
            #expect(try await fs.status(of: "d", in: directory).kind == .subvolume)
        }
    }

    @Test("delete by id deletes exactly that subvolume, whatever its name and depth", arguments: Backends.all)
    func deleteByID(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("a", in: directory)
            let a = try await fs.openDirectory("a", in: directory)
            try await fs.createSubvolume("b", in: a)
            let b = try await fs.openDirectory("b", in: a)
            try await fs.createSubvolume("c", in: b)
            let c = try await fs.withDirectory("c", in: b) { c throws(FSError) in try await fs.subvolumeInfo(of: c).id }
            try await fs.rename("c", in: b, to: "renamed", in: b, mode: .noReplace)
            try await fs.deleteSubvolume(id: c, via: directory)
            #expect(try await fs.names(b) == [])
            #expect(try await fs.names(a) == ["b"])
            #expect(try await fs.names(directory) == ["a"])
            await #expect(throws: FSError(.noEntry, .deleteSubvolumeByID, subvolume: c)) {
                try await fs.deleteSubvolume(id: c, via: directory)
            }
            await #expect(throws: FSError(.invalidArgument, .deleteSubvolumeByID, subvolume: .topLevel)) {
                try await fs.deleteSubvolume(id: .topLevel, via: directory)
            }
            await fs.close(b)
            await fs.close(a)
        }
    }

    @Test("a nested subvolume inside a read-only one gives EROFS, by name and by id", arguments: Backends.all)
    func nestedInReadOnly(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("outer", in: directory)
            let outer = try await fs.openDirectory("outer", in: directory)
            try await fs.createSubvolume("inner", in: outer)
            let inner = try await fs.withDirectory("inner", in: outer) { inner throws(FSError) in
                try await fs.subvolumeInfo(of: inner).id
            }
            try await fs.setReadOnly(true, of: outer)
            await #expect(throws: FSError(.readOnly, .deleteSubvolume, name: "inner")) {
                try await fs.deleteSubvolume("inner", in: outer)
            }
            await #expect(throws: FSError(.readOnly, .deleteSubvolumeByID, subvolume: inner)) {
                try await fs.deleteSubvolume(id: inner, via: directory)
            }
            try await fs.setReadOnly(false, of: outer)
            await fs.close(outer)
        }
    }

    @Test("delete succeeds while a process works inside; it keeps its descriptors", arguments: Backends.all)
    func deleteWhileInUse(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("s", in: directory)
            let s = try await fs.openDirectory("s", in: directory)
            try await fs.makeDirectory("sub", in: s)
            let image = try await fs.openFile("image", in: s, options: [.create, .write])
            try await fs.write(Array("boot".utf8), to: image)
            try await fs.deleteSubvolume("s", in: directory)
            #expect(try await fs.names(directory) == [])
            try await fs.write(Array("ed".utf8), to: image)
            #expect(try await fs.readAll(image) == Array("booted".utf8))
            #expect(try await fs.status(of: s).kind == .subvolume)
            #expect(try await fs.list(s).isEmpty)
            await #expect(throws: FSError(.noEntry, .openDirectory, name: "sub")) {
                try await fs.openDirectory("sub", in: s)
            }
            await #expect(throws: FSError(.noEntry, .makeDirectory, name: "new")) {
                try await fs.makeDirectory("new", in: s)
            }
            await #expect(throws: FSError(.noEntry, .snapshot, name: "copy")) {
                try await fs.snapshot(s, as: "copy", in: directory, readOnly: false)
            }
            await fs.close(image)
            await fs.close(s)
        }
    }

    @Test("rmdir removes an empty subvolume, read-only too, even for an unprivileged user", arguments: Backends.all)
    func removeDirectoryRemovesEmptySubvolume(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let (user, home) = try await userHome(sandbox, directory)
            let root = sandbox.root
            let rootHome = try await root.openDirectory("home", in: directory)
            try await root.createSubvolume("empty", in: rootHome)
            try await root.withDirectory("empty", in: rootHome) { s throws(FSError) in try await root.setReadOnly(true, of: s) }
            try await root.createSubvolume("full", in: rootHome)
            try await root.withDirectory("full", in: rootHome) { s throws(FSError) in try await root.makeDirectory("d", in: s) }
            try await user.removeDirectory("empty", in: home)
            await #expect(throws: FSError(.notEmpty, .removeDirectory, name: "full")) {
                try await user.removeDirectory("full", in: home)
            }
            #expect(try await user.names(home) == ["full"])
            await root.close(rootHome)
        }
    }

    @Test("delete by id: a nested subvolume gives ENOTEMPTY, a tmpfs ENOTTY", arguments: Backends.all)
    func deleteByIDChecks(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("outer", in: directory)
            let outer = try await fs.openDirectory("outer", in: directory)
            try await fs.createSubvolume("inner", in: outer)
            let outerID = try await fs.subvolumeInfo(of: outer).id
            await #expect(throws: FSError(.notEmpty, .deleteSubvolumeByID, subvolume: outerID)) {
                try await fs.deleteSubvolume(id: outerID, via: directory)
            }
            try await fs.deleteSubvolume("inner", in: outer)
            await fs.close(outer)
            // The default subvolume's EPERM by id is `defaultSubvolume`'s:
            // one test at a time may set the shared filesystem's default.
            try await fs.makeDirectory("t", in: directory)
            try await sandbox.mountTmpfs(at: "t")
            let t = try await fs.openDirectory("t", in: directory)
            await #expect(throws: FSError(.notSupported, .deleteSubvolumeByID, subvolume: outerID)) {
                try await fs.deleteSubvolume(id: outerID, via: t)
            }
            await fs.close(t)
            try await sandbox.unmount("t")
        }
    }
}

/// A directory `home` in the sandbox owned by the unprivileged user, and a
/// process of that user with it open.
func userHome(_ sandbox: any Sandbox, _ directory: DirectoryHandle) async throws -> (any FileSystem, DirectoryHandle) {
    try await sandbox.root.makeDirectory("home", in: directory)
    try await sandbox.root.changeOwner(of: "home", in: directory, owner: unprivilegedUser, group: unprivilegedUser)
    let user = try await sandbox.user(unprivilegedUser, group: unprivilegedUser)
    let sandboxAsUser = try await sandbox.open(as: user)
    let home = try await user.openDirectory("home", in: sandboxAsUser)
    await user.close(sandboxAsUser)
    return (user, home)
}
