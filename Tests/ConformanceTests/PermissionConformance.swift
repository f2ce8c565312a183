import FSProtocol
import Testing
import TestSupport

/// Who may do what: the permission bits, the sticky bit, owners and the
/// unprivileged subvolume calls, on every backend.
@Suite("Conformance: permissions and owners")
struct PermissionConformance {
    @Test("an unprivileged user cannot create in a directory it cannot write: EACCES", arguments: Backends.all)
    func createNeedsWrite(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let user = try await sandbox.user(unprivilegedUser, group: unprivilegedUser)
            let top = try await sandbox.open(as: user)
            await #expect(throws: FSError(.accessDenied, .makeDirectory, name: "d")) { try await user.makeDirectory("d", in: top) }
            await #expect(throws: FSError(.accessDenied, .createSymlink, name: "l")) {
                try await user.createSymlink("l", in: top, target: "x")
            }
            await #expect(throws: FSError(.accessDenied, .createSubvolume, name: "s")) { try await user.createSubvolume("s", in: top) }
            await #expect(throws: FSError(.accessDenied, .openFile, name: "f")) {
                try await user.openFile("f", in: top, options: [.create, .write])
            }
            await #expect(throws: FSError(.accessDenied, .createFile, name: "f")) {
                _ = try await user.createFile("f", in: top, owner: unprivilegedUser, group: unprivilegedUser)
            }
            #expect(try await user.names(top) == [])
            await user.close(top)
        }
    }

    @Test("opening a directory needs read permission on it", arguments: Backends.all)
    func openDirectoryNeedsRead(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.makeDirectory("private", in: directory)
            try await fs.makeDirectory("searchable", in: directory)
            try await sandbox.setPermissions("private", 0o700)
            try await sandbox.setPermissions("searchable", 0o711)
            let user = try await sandbox.user(unprivilegedUser, group: unprivilegedUser)
            let top = try await sandbox.open(as: user)
            for name: EntryName in ["private", "searchable"] {
                await #expect(throws: FSError(.accessDenied, .openDirectory, name: name)) {
                    try await user.openDirectory(name, in: top)
                }
            }
            await #expect(throws: FSError(.accessDenied, .openRoot, path: sandbox.path + "/searchable")) {
                try await user.openRoot(sandbox.path + "/searchable")
            }
            await user.close(top)
        }
    }

    @Test("a directory without search permission refuses every lookup: EACCES", arguments: Backends.all)
    func lookupsNeedSearch(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.makeDirectory("d", in: directory)
            let d = try await fs.openDirectory("d", in: directory)
            try await fs.makeDirectory("sub", in: d)
            try await fs.writeFile("f", in: d, "x")
            try await fs.createSymlink("l", in: d, target: "f")
            try await fs.changeOwner(of: "d", in: directory, owner: unprivilegedUser, group: unprivilegedUser)
            let user = try await sandbox.user(unprivilegedUser, group: unprivilegedUser)
            let top = try await sandbox.open(as: user)
            let opened = try await user.openDirectory("d", in: top)
            // Read and write, no search: no lookup works.
            try await sandbox.setPermissions("d", 0o600)
            await #expect(throws: FSError(.accessDenied, .status, name: "f")) { try await user.status(of: "f", in: opened) }
            await #expect(throws: FSError(.accessDenied, .openDirectory, name: "sub")) {
                try await user.openDirectory("sub", in: opened)
            }
            await #expect(throws: FSError(.accessDenied, .readLink, name: "l")) { try await user.readLink("l", in: opened) }
            await #expect(throws: FSError(.accessDenied, .changeOwner, name: "f")) {
                try await user.changeOwner(of: "f", in: opened, owner: unprivilegedUser, group: unprivilegedUser)
            }
            await #expect(throws: FSError(.accessDenied, .openFile, name: "f")) {
                try await user.openFile("f", in: opened, options: [])
            }
            await #expect(throws: FSError(.accessDenied, .unlink, name: "f")) { try await user.unlink("f", in: opened) }
            await #expect(throws: FSError(.accessDenied, .removeDirectory, name: "sub")) {
                try await user.removeDirectory("sub", in: opened)
            }
            await #expect(throws: FSError(.accessDenied, .rename, name: "f", destination: "g")) {
                try await user.rename("f", in: opened, to: "g", in: opened, mode: .noReplace)
            }
            await #expect(throws: FSError(.accessDenied, .openRoot, path: sandbox.path + "/d/sub")) {
                try await user.openRoot(sandbox.path + "/d/sub")
            }
            try await sandbox.setPermissions("d", 0o755)
            await user.close(opened)
            await user.close(top)
            await fs.close(d)
        }
    }

    @Test("a listing needs read permission at the time of the call, not only when the directory was opened", arguments: Backends.all)
    func listChecksAtCall(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.makeDirectory("d", in: directory)
            try await fs.withDirectory("d", in: directory) { d throws(FSError) in try await fs.makeDirectory("x", in: d) }
            let user = try await sandbox.user(unprivilegedUser, group: unprivilegedUser)
            let top = try await sandbox.open(as: user)
            let opened = try await user.openDirectory("d", in: top)
            try await sandbox.setPermissions("d", 0o700)
            await #expect(throws: FSError(.accessDenied, .list)) { try await user.list(opened) }
            await user.close(opened)
            await user.close(top)
        }
    }

    @Test("a listing needs search permission on the directory too (RealFS lists by opening its '.')", arguments: Backends.all)
    func listNeedsSearch(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.makeDirectory("d", in: directory)
            try await fs.withDirectory("d", in: directory) { d throws(FSError) in try await fs.makeDirectory("x", in: d) }
            try await fs.changeOwner(of: "d", in: directory, owner: unprivilegedUser, group: unprivilegedUser)
            let user = try await sandbox.user(unprivilegedUser, group: unprivilegedUser)
            let top = try await sandbox.open(as: user)
            let opened = try await user.openDirectory("d", in: top)
            try await sandbox.setPermissions("d", 0o600)
            await #expect(throws: FSError(.accessDenied, .list)) { try await user.list(opened) }
            try await sandbox.setPermissions("d", 0o755)
            await user.close(opened)
            await user.close(top)
        }
    }

    @Test(
        "in a sticky directory a user cannot remove or move another user's entry (EPERM), and can its own",
        arguments: Backends.all)
    func stickyDirectory(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.makeDirectory("shared", in: directory)
            try await sandbox.setPermissions("shared", 0o1777)
            try await fs.withDirectory("shared", in: directory) { d throws(FSError) in
                await fs.close(try await fs.openFile("roots.lock", in: d, options: [.create, .write]))
                try await fs.makeDirectory("roots", in: d)
                try await fs.createSubvolume("s", in: d)
            }
            // Writable by all: only the sticky bit stands in the way.
            try await sandbox.setPermissions("shared/s", 0o777)
            let user = try await sandbox.user(unprivilegedUser, group: unprivilegedUser)
            let top = try await sandbox.open(as: user)
            let shared = try await user.openDirectory("shared", in: top)
            await #expect(throws: FSError(.notPermitted, .unlink, name: "roots.lock")) { try await user.unlink("roots.lock", in: shared) }
            await #expect(throws: FSError(.notPermitted, .removeDirectory, name: "roots")) {
                try await user.removeDirectory("roots", in: shared)
            }
            await #expect(throws: FSError(.notPermitted, .rename, name: "roots.lock", destination: "mine")) {
                try await user.rename("roots.lock", in: shared, to: "mine", in: shared, mode: .noReplace)
            }
            await #expect(throws: FSError(.notPermitted, .deleteSubvolume, name: "s")) {
                try await user.deleteSubvolume("s", in: shared)
            }
            await user.close(try await user.openFile("users.lock", in: shared, options: [.create, .write]))
            await #expect(throws: FSError(.notPermitted, .rename, name: "users.lock", destination: "roots.lock")) {
                try await user.rename("users.lock", in: shared, to: "roots.lock", in: shared, mode: .replace)
            }
            try await user.rename("users.lock", in: shared, to: "mine", in: shared, mode: .noReplace)
            try await user.unlink("mine", in: shared)
            #expect(try await user.names(shared) == ["roots", "roots.lock", "s"])
            await user.close(shared)
            await user.close(top)
        }
    }

    @Test(
        "in a sticky directory the sticky check comes before the kind of entry (EPERM, not EISDIR), and covers delete by id",
        arguments: Backends.all)
    func stickyBeforeOtherChecks(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.makeDirectory("shared", in: directory)
            try await sandbox.setPermissions("shared", 0o1777)
            let id = try await fs.withDirectory("shared", in: directory) { d throws(FSError) in
                try await fs.makeDirectory("roots", in: d)
                try await fs.createSubvolume("s", in: d)
                return try await fs.withDirectory("s", in: d) { s throws(FSError) in try await fs.subvolumeID(of: s) }
            }
            try await sandbox.setPermissions("shared/s", 0o777)
            let user = try await sandbox.user(unprivilegedUser, group: unprivilegedUser)
            let top = try await sandbox.open(as: user)
            let shared = try await user.openDirectory("shared", in: top)
            await #expect(throws: FSError(.notPermitted, .unlink, name: "roots")) { try await user.unlink("roots", in: shared) }
            await #expect(throws: FSError(.notPermitted, .deleteSubvolumeByID, subvolume: id)) {
                try await user.deleteSubvolume(id: id, via: shared)
            }
            #expect(try await user.names(shared) == ["roots", "s"])
            await user.close(shared)
            await user.close(top)
        }
    }

    @Test("a sticky directory's owner removes what another user made in it", arguments: Backends.all)
    func stickyDirectoryOwner(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let (user, home) = try await userHome(sandbox, directory)
            try await sandbox.setPermissions("home", 0o1777)
            let rootHome = try await sandbox.root.openDirectory("home", in: directory)
            try await sandbox.root.writeFile("f", in: rootHome, "x")
            try await sandbox.root.makeDirectory("d", in: rootHome)
            await sandbox.root.close(rootHome)
            try await user.unlink("f", in: home)
            try await user.removeDirectory("d", in: home)
            #expect(try await user.names(home) == [])
            await user.close(home)
        }
    }

    @Test(
        "renaming or removing a mount point without write permission: EACCES before EBUSY",
        arguments: Backends.all)
    func permissionBeforeBusy(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            try await sandbox.root.makeDirectory("t", in: directory)
            try await sandbox.mountTmpfs(at: "t")
            let user = try await sandbox.user(unprivilegedUser, group: unprivilegedUser)
            let top = try await sandbox.open(as: user)
            await #expect(throws: FSError(.accessDenied, .rename, name: "t", destination: "moved")) {
                try await user.rename("t", in: top, to: "moved", in: top, mode: .noReplace)
            }
            await #expect(throws: FSError(.accessDenied, .removeDirectory, name: "t")) {
                try await user.removeDirectory("t", in: top)
            }
            await user.close(top)
            try await sandbox.unmount("t")
        }
    }

    @Test("chown: its owner may keep its own owner and group, not give it away; another user gets EPERM", arguments: Backends.all)
    func changeOwnerByOwner(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let (user, home) = try await userHome(sandbox, directory)
            try await user.makeDirectory("d", in: home)
            try await user.changeOwner(of: "d", in: home, owner: unprivilegedUser, group: unprivilegedUser)
            await #expect(throws: FSError(.noEntry, .changeOwner, name: "missing")) {
                try await user.changeOwner(of: "missing", in: home, owner: unprivilegedUser, group: unprivilegedUser)
            }
            await #expect(throws: FSError(.noEntry, .readLink, name: "missing")) { try await user.readLink("missing", in: home) }
            await #expect(throws: FSError(.notPermitted, .changeOwner, name: "d")) {
                try await user.changeOwner(of: "d", in: home, owner: 0, group: 0)
            }
            // Root's group on the user's file: its owner may set its own.
            try await sandbox.root.withDirectory("home", in: directory) { rootHome throws(FSError) in
                try await sandbox.root.changeOwner(of: "d", in: rootHome, owner: unprivilegedUser, group: 0)
            }
            try await user.changeOwner(of: "d", in: home, owner: UInt32.max, group: unprivilegedUser)
            #expect(try await user.status(of: "d", in: home).group == unprivilegedUser)
            let stranger = try await sandbox.user(unprivilegedUser + 1, group: unprivilegedUser + 1)
            let top = try await sandbox.open(as: stranger)
            let strangersHome = try await stranger.openDirectory("home", in: top)
            await #expect(throws: FSError(.notPermitted, .changeOwner, name: "d")) {
                try await stranger.changeOwner(of: "d", in: strangersHome, owner: unprivilegedUser + 1, group: unprivilegedUser + 1)
            }
            await stranger.close(strangersHome)
            await stranger.close(top)
        }
    }

    @Test("an unprivileged owner cannot delete its subvolume from a directory it cannot write: EACCES", arguments: Backends.all)
    func deleteNeedsWritableParent(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("s", in: directory)
            try await fs.changeOwner(of: "s", in: directory, owner: unprivilegedUser, group: unprivilegedUser)
            let user = try await sandbox.user(unprivilegedUser, group: unprivilegedUser)
            let top = try await sandbox.open(as: user)
            await #expect(throws: FSError(.accessDenied, .deleteSubvolume, name: "s")) { try await user.deleteSubvolume("s", in: top) }
            await user.close(top)
        }
    }

    @Test("delete by id, unprivileged: EROFS for read-only, EACCES for root's", arguments: Backends.all)
    func deleteByIDUnprivileged(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let (user, home) = try await userHome(sandbox, directory)
            try await user.createSubvolume("ro", in: home)
            let ro = try await user.withDirectory("ro", in: home) { s throws(FSError) in
                try await user.setReadOnly(true, of: s)
                return try await user.subvolumeInfo(of: s).id
            }
            await #expect(throws: FSError(.readOnly, .deleteSubvolumeByID, subvolume: ro)) {
                try await user.deleteSubvolume(id: ro, via: home)
            }
            let rootHome = try await sandbox.root.openDirectory("home", in: directory)
            try await sandbox.root.createSubvolume("roots", in: rootHome)
            let roots = try await sandbox.root.withDirectory("roots", in: rootHome) { s throws(FSError) in
                try await sandbox.root.subvolumeInfo(of: s).id
            }
            await #expect(throws: FSError(.accessDenied, .deleteSubvolumeByID, subvolume: roots)) {
                try await user.deleteSubvolume(id: roots, via: home)
            }
            try await user.withDirectory("ro", in: home) { s throws(FSError) in try await user.setReadOnly(false, of: s) }
            try await user.deleteSubvolume(id: ro, via: home)
            await sandbox.root.close(rootHome)
        }
    }

    @Test("delete by id without user_subvol_rm_allowed: EPERM for its owner", arguments: Backends.all)
    func deleteByIDWithoutMountOption(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend, SandboxOptions(userSubvolumeRemovalAllowed: false)) { sandbox, directory in
            let (user, home) = try await userHome(sandbox, directory)
            try await user.createSubvolume("s", in: home)
            let s = try await user.withDirectory("s", in: home) { s throws(FSError) in try await user.subvolumeInfo(of: s).id }
            await #expect(throws: FSError(.notPermitted, .deleteSubvolumeByID, subvolume: s)) {
                try await user.deleteSubvolume(id: s, via: home)
            }
        }
    }
}
