import FSProtocol
import Testing
import TestSupport

/// The protocol's written contract (the doc comments of `FileSystem`), call
/// by call, where a backend was found to depart from it or the two backends
/// to answer differently (contract audit).
@Suite("Conformance: the written contract")
struct ContractConformance {
    // MARK: Files and locks

    @Test("write appends: bytes written to a reopened file follow its content", arguments: Backends.all)
    func writeAppends(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.writeFile("f", in: directory, "abc")
            let file = try await fs.openFile("f", in: directory, options: [.write])
            try await fs.write(Array("X".utf8), to: file)
            #expect(String(decoding: try await fs.readAll(file), as: UTF8.self) == "abcX")
            await fs.close(file)
            // With `.create` on an existing file too (BuildAgent's build.log).
            let again = try await fs.openFile("f", in: directory, options: [.create, .write])
            try await fs.write(Array("Y".utf8), to: again)
            #expect(String(decoding: try await fs.readAll(again), as: UTF8.self) == "abcXY")
            await fs.close(again)
        }
    }

    @Test(
        "a lock is seen through its own file only, not another subvolume's file of the same inode number",
        arguments: Backends.all)
    func lockStatusPerSubvolume(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("m-1", in: directory)
            try await fs.createSubvolume("m-2", in: directory)
            let one = try await fs.openDirectory("m-1", in: directory)
            let two = try await fs.openDirectory("m-2", in: directory)
            // The first file of a fresh subvolume: the same inode number in
            // both (257 on btrfs), on two devices.
            let holder = try await fs.openFile("m-1-default.lock", in: one, options: [.create, .write])
            let looker = try await fs.openFile("m-2-default.lock", in: two, options: [.create, .write])
            let held = try await fs.status(of: holder)
            let looked = try await fs.status(of: looker)
            #expect(held.identity.inode == looked.identity.inode)
            #expect(held.identity.device != looked.identity.device)
            #expect(try await fs.tryLock(holder))
            #expect(try await fs.isLockHeld(holder))
            // Nobody holds m-2's lock: MachineRemoval would wait for a build
            // that does not run, MachineListing would show it held.
            #expect(try await !fs.isLockHeld(looker))
            #expect(try await fs.tryLock(looker))
            await fs.close(holder)
            await fs.close(looker)
            await fs.close(one)
            await fs.close(two)
        }
    }

    @Test("createFile: a taken name gives EEXIST, even in a read-only subvolume", arguments: Backends.all)
    func createFileTakenName(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("s", in: directory)
            let s = try await fs.openDirectory("s", in: directory)
            try await fs.writeFile("taken", in: s, "x")
            try await fs.setReadOnly(true, of: s)
            await #expect(throws: FSError(.exists, .createFile, name: "taken")) {
                _ = try await fs.createFile("taken", in: s, owner: 0, group: 0)
            }
            try await fs.setReadOnly(false, of: s)
            await fs.close(s)
        }
    }

    // MARK: Owners

    @Test("changeOwner: an id of -1 (UInt32.max) leaves that id as it is, as fchownat does", arguments: Backends.all)
    func changeOwnerMinusOne(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.writeFile("f", in: directory, "x")
            try await fs.changeOwner(of: "f", in: directory, owner: 1000, group: UInt32.max)
            let status = try await fs.status(of: "f", in: directory)
            #expect(status.owner == 1000)
            #expect(status.group == 0)
            try await fs.changeOwner(of: "f", in: directory, owner: UInt32.max, group: 1000)
            let again = try await fs.status(of: "f", in: directory)
            #expect(again.owner == 1000 && again.group == 1000)
            // Changing nothing asks no right, of anybody.
            try await fs.changeOwner(of: "f", in: directory, owner: 0, group: 0)
            let user = try await sandbox.user(unprivilegedUser, group: unprivilegedUser)
            let top = try await sandbox.open(as: user)
            try await user.changeOwner(of: "f", in: top, owner: UInt32.max, group: UInt32.max)
            await #expect(throws: FSError(.notPermitted, .changeOwner, name: "f")) {
                try await user.changeOwner(of: "f", in: top, owner: UInt32.max, group: unprivilegedUser)
            }
            await user.close(top)
        }
    }

    // MARK: Removing and renaming

    @Test(
        "unlink and rmdir check the directory before the entry's kind: EROFS, EACCES before EISDIR, ENOTDIR",
        arguments: Backends.all)
    func removalCheckOrder(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("s", in: directory)
            let s = try await fs.openDirectory("s", in: directory)
            try await fs.makeDirectory("d", in: s)
            try await fs.writeFile("f", in: s, "x")
            try await fs.setReadOnly(true, of: s)
            await #expect(throws: FSError(.readOnly, .unlink, name: "d")) { try await fs.unlink("d", in: s) }
            await #expect(throws: FSError(.readOnly, .removeDirectory, name: "f")) { try await fs.removeDirectory("f", in: s) }
            try await fs.setReadOnly(false, of: s)
            await fs.close(s)
            try await fs.makeDirectory("d", in: directory)
            try await fs.writeFile("f", in: directory, "x")
            let user = try await sandbox.user(unprivilegedUser, group: unprivilegedUser)
            let top = try await sandbox.open(as: user)
            await #expect(throws: FSError(.accessDenied, .unlink, name: "d")) { try await user.unlink("d", in: top) }
            await #expect(throws: FSError(.accessDenied, .removeDirectory, name: "f")) {
                try await user.removeDirectory("f", in: top)
            }
            await user.close(top)
        }
    }

    @Test(
        "rename: a taken name without replacing gives EEXIST (its own too), and onto itself succeeds, before any permission check",
        arguments: Backends.all)
    func noReplaceOntoItself(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.makeDirectory("a", in: directory)
            await #expect(throws: FSError(.exists, .rename, name: "a", destination: "a")) {
                try await fs.rename("a", in: directory, to: "a", in: directory, mode: .noReplace)
            }
            try await fs.rename("a", in: directory, to: "a", in: directory, mode: .replace)
            #expect(try await fs.names(directory) == ["a"])
            // In a read-only subvolume, and for a user in root's sticky
            // directory, the taken name still comes first.
            try await fs.createSubvolume("s", in: directory)
            let s = try await fs.openDirectory("s", in: directory)
            try await fs.writeFile("x", in: s, "")
            try await fs.writeFile("y", in: s, "")
            try await fs.setReadOnly(true, of: s)
            await #expect(throws: FSError(.exists, .rename, name: "x", destination: "y")) {
                try await fs.rename("x", in: s, to: "y", in: s, mode: .noReplace)
            }
            try await fs.setReadOnly(false, of: s)
            await fs.close(s)
            let rootsA = try await fs.openDirectory("a", in: directory)
            try await fs.writeFile("x", in: rootsA, "")
            try await fs.writeFile("y", in: rootsA, "")
            await fs.close(rootsA)
            try await sandbox.setPermissions("a", 0o1777)
            let user = try await sandbox.user(unprivilegedUser, group: unprivilegedUser)
            let top = try await sandbox.open(as: user)
            let a = try await user.openDirectory("a", in: top)
            await #expect(throws: FSError(.exists, .rename, name: "x", destination: "y")) {
                try await user.rename("x", in: a, to: "y", in: a, mode: .noReplace)
            }
            try await user.rename("x", in: a, to: "x", in: a, mode: .replace)
            await #expect(throws: FSError(.notPermitted, .rename, name: "x", destination: "z")) {
                try await user.rename("x", in: a, to: "z", in: a, mode: .noReplace)
            }
            await user.close(a)
            await user.close(top)
        }
    }

    @Test("deleting a subvolume something is mounted on deletes it and tears the mount away", arguments: Backends.all)
    func deleteMountedOn(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("s", in: directory)
            try await sandbox.mountTmpfs(at: "s")
            // What a lookup shows is the tmpfs; what the delete acts on is
            // the subvolume under it.
            #expect(try await fs.status(of: "s", in: directory).kind == .directory)
            #expect(try await fs.mountPoints(inside: directory) == [sandbox.path + "/s"])
            try await fs.deleteSubvolume("s", in: directory)
            #expect(try await fs.names(directory) == [])
            #expect(try await fs.mountPoints(inside: directory).isEmpty)
            try await sandbox.unmount("s")
        }
    }

    // MARK: Names and targets

    @Test("a name longer than 255 bytes gives ENAMETOOLONG and creates nothing", arguments: Backends.all)
    func longNames(backend: any ConformanceBackend) async throws {
        let long = try #require(EntryName(String(repeating: "m", count: 256)))
        let tooLong = FSError.Kind.other(errno: 36)
        try await withSandbox(backend) { (sandbox: any Sandbox, directory: DirectoryHandle) async throws in
            let fs = sandbox.root
            await #expect(throws: FSError(tooLong, .makeDirectory, name: long)) { try await fs.makeDirectory(long, in: directory) }
            await #expect(throws: FSError(tooLong, .createSubvolume, name: long)) {
                try await fs.createSubvolume(long, in: directory)
            }
            await #expect(throws: FSError(tooLong, .openFile, name: long)) {
                try await fs.openFile(long, in: directory, options: [.create, .write])
            }
            try await fs.makeDirectory("d", in: directory)
            await #expect(throws: FSError(tooLong, .rename, name: "d", destination: long)) {
                try await fs.rename("d", in: directory, to: long, in: directory, mode: .noReplace)
            }
            #expect(try await fs.names(directory) == ["d"])
            // 255 bytes are a name.
            let longest = try #require(EntryName(String(repeating: "m", count: 255)))
            try await fs.rename("d", in: directory, to: longest, in: directory, mode: .noReplace)
            #expect(try await fs.names(directory) == [longest.rawValue])
        }
    }

    @Test("a link target holding a NUL byte is refused (EINVAL), never cut short at the NUL", arguments: Backends.all)
    func symlinkTargetNUL(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("m-2", in: directory)
            await #expect(throws: FSError(.invalidArgument, .createSymlink, name: "m-latest")) {
                try await fs.createSymlink("m-latest", in: directory, target: "m-2\u{0}-old")
            }
            if try await fs.exists("m-latest", in: directory) {
                Issue.record("a link was created, to \(String(reflecting: try await fs.readLink("m-latest", in: directory)))")
            }
            // Onto a taken name too: the target is looked at first.
            try await fs.writeFile("taken", in: directory, "x")
            await #expect(throws: FSError(.invalidArgument, .createSymlink, name: "taken")) {
                try await fs.createSymlink("taken", in: directory, target: "a\u{0}b")
            }
        }
    }

    // MARK: Subvolumes

    @Test(
        "nestedSubvolumes as a user leaves out what is below a directory it may not read and search (the delete then gives ENOTEMPTY)",
        arguments: Backends.all)
    func nestedBelowClosedDirectory(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let (user, home) = try await userHome(sandbox, directory)
            try await user.createSubvolume("outer", in: home)
            let rootHome = try await sandbox.root.openDirectory("home", in: directory)
            let rootOuter = try await sandbox.root.openDirectory("outer", in: rootHome)
            try await sandbox.root.makeDirectory("closed", in: rootOuter)
            try await sandbox.root.withDirectory("closed", in: rootOuter) { closed throws(FSError) in
                try await sandbox.root.createSubvolume("inner", in: closed)
            }
            try await sandbox.setPermissions("home/outer/closed", 0o700)
            let outer = try await user.openDirectory("outer", in: home)
            let nested = try await user.nestedSubvolumes(of: outer)
            #expect(nested.isEmpty)
            #expect(try await sandbox.root.nestedSubvolumes(of: rootOuter).map(\.path) == ["closed/inner"])
            // What the listing leaves out is what makes the delete fail.
            await #expect(throws: FSError(.notEmpty, .deleteSubvolume, name: "outer")) {
                try await user.deleteSubvolume("outer", in: home)
            }
            await user.close(outer)
            await sandbox.root.close(rootOuter)
            await sandbox.root.close(rootHome)
            await user.close(home)
        }
    }
}

/// A user's nested-subvolume listing, by the modes of root's directories
/// on the way (RealFS's own walk by descriptors, `buildos_nested_user`;
/// see `HostState.nestedSubvolumes`).
@Suite("Conformance: a user's nested-subvolume listing")
struct NestedListingConformance {
    /// A sandbox where the user's home holds its subvolume `outer`, which
    /// `body` gets open as the user.
    func withUsersOuter(
        _ backend: any ConformanceBackend,
        _ body: (any Sandbox, DirectoryHandle, any FileSystem, DirectoryHandle) async throws -> Void
    ) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let (user, home) = try await userHome(sandbox, directory)
            try await user.createSubvolume("outer", in: home)
            let outer = try await user.openDirectory("outer", in: home)
            try await body(sandbox, directory, user, outer)
            await user.close(outer)
            await user.close(home)
        }
    }

    /// `outer/a/b/inner`, `outer` the user's, `a` and `b` root's with
    /// these modes, `inner` root's (0755).
    struct Case: Sendable, CustomTestStringConvertible {
        var a: UInt16
        var b: UInt16
        /// What the user's listing of `outer` gives.
        var listed: [String]
        var testDescription: String { "a \(String(a, radix: 8)), b \(String(b, radix: 8))" }
    }

    static let cases: [Case] = [
        Case(a: 0o755, b: 0o755, listed: ["a/b/inner"]),
        // The lookup wants read and search above the holding directory,
        // the open search all the way: either missing leaves it out.
        Case(a: 0o755, b: 0o700, listed: []),
        Case(a: 0o755, b: 0o744, listed: []),
        Case(a: 0o711, b: 0o755, listed: []),
        Case(a: 0o744, b: 0o755, listed: []),
        Case(a: 0o700, b: 0o711, listed: []),
        // Search without read on the holding directory is enough. (With
        // libbtrfsutil 6.2's iterator, which reopens its way back with
        // `..`, this failed the whole listing with EACCES.)
        Case(a: 0o755, b: 0o711, listed: ["a/b/inner"]),
    ]

    @Test("a user's nested listing below root's directories", arguments: Backends.all, cases)
    func listing(backend: any ConformanceBackend, _ row: Case) async throws {
        try await withUsersOuter(backend) { sandbox, directory, user, outer in
            let root = sandbox.root
            let rootHome = try await root.openDirectory("home", in: directory)
            try await root.withDirectory("outer", in: rootHome) { rootOuter throws(FSError) in
                try await root.makeDirectory("a", in: rootOuter)
                try await root.withDirectory("a", in: rootOuter) { a throws(FSError) in
                    try await root.makeDirectory("b", in: a)
                    try await root.withDirectory("b", in: a) { b throws(FSError) in
                        try await root.createSubvolume("inner", in: b)
                    }
                }
                #expect(try await root.nestedSubvolumes(of: rootOuter).map(\.path) == ["a/b/inner"])
            }
            await root.close(rootHome)
            try await sandbox.setPermissions("home/outer/a/b", row.b)
            try await sandbox.setPermissions("home/outer/a", row.a)
            #expect(try await user.nestedSubvolumes(of: outer).map(\.path) == row.listed)
            // The descriptor is still the caller's (libbtrfsutil 6.2's
            // iterator closed it).
            #expect(try await user.list(outer).map(\.name) == ["a"])
            // Open again for the sandbox's removal.
            try await sandbox.setPermissions("home/outer/a", 0o755)
            try await sandbox.setPermissions("home/outer/a/b", 0o755)
        }
    }

    @Test(
        "a user's listing wants read and search on the walked subvolume's root for what lies in a directory of it",
        arguments: Backends.all)
    func outerRootUnreadable(backend: any ConformanceBackend) async throws {
        try await withUsersOuter(backend) { sandbox, directory, user, outer in
            try await user.makeDirectory("a", in: outer)
            try await user.withDirectory("a", in: outer) { a throws(FSError) in
                try await user.createSubvolume("inner", in: a)
            }
            try await user.createSubvolume("s", in: outer)
            #expect(try await user.nestedSubvolumes(of: outer).map(\.path) == ["a/inner", "s"])
            // Opened before it lost read permission.
            try await sandbox.setPermissions("home/outer", 0o300)
            #expect(try await user.nestedSubvolumes(of: outer).map(\.path) == ["s"])
            try await sandbox.setPermissions("home/outer", 0o755)
        }
    }

    @Test("a mount on the way hides a nested subvolume from a user's listing, not from root's", arguments: Backends.all)
    func hiddenByMount(backend: any ConformanceBackend) async throws {
        try await withUsersOuter(backend) { sandbox, directory, user, outer in
            try await user.makeDirectory("m", in: outer)
            try await user.withDirectory("m", in: outer) { m throws(FSError) in
                try await user.createSubvolume("sv", in: m)
                try await user.withDirectory("sv", in: m) { sv throws(FSError) in
                    try await user.createSubvolume("inner", in: sv)
                }
            }
            try await user.createSubvolume("t", in: outer)
            try await sandbox.mountTmpfs(at: "home/outer/m")
            #expect(try await user.nestedSubvolumes(of: outer).map(\.path) == ["t"])
            let root = sandbox.root
            let rootHome = try await root.openDirectory("home", in: directory)
            try await root.withDirectory("outer", in: rootHome) { rootOuter throws(FSError) in
                #expect(try await root.nestedSubvolumes(of: rootOuter).map(\.path) == ["m/sv/inner", "m/sv", "t"])
            }
            await root.close(rootHome)
            try await sandbox.unmount("home/outer/m")
        }
    }

    /// Makes `count` directories of 250 bytes, each in the one before,
    /// then one of `last` bytes in the deepest, from `start`; the deepest,
    /// open, and the path to it. The caller closes what it gets.
    func makeDirectories(
        _ fs: any FileSystem, _ count: Int, last: Int = 0, in start: DirectoryHandle
    ) async throws -> (DirectoryHandle, String) {
        var names = Array(repeating: String(repeating: "e", count: 250), count: count)
        if last > 0 { names.append(String(repeating: "f", count: last)) }
        var opened: [DirectoryHandle] = []
        var current = start
        for name in names {
            try await fs.makeDirectory(EntryName(name)!, in: current)
            current = try await fs.openDirectory(EntryName(name)!, in: current)
            opened.append(current)
        }
        for handle in opened.dropLast().reversed() { await fs.close(handle) }
        return (current, names.joined(separator: "/"))
    }

    @Test(
        "the directories holding a nested subvolume, each name with its slash, make at most 3823 bytes for a user's lookup, 4079 for root's",
        arguments: Backends.all, [3823, 3824, 4079, 4080])
    func longLookupPath(backend: any ConformanceBackend, bytes: Int) async throws {
        let tooLong = FSError(.other(errno: 36), .nestedSubvolumes)
        try await withUsersOuter(backend) { sandbox, directory, user, outer in
            // Directories of 250 bytes, and one shorter to make up `bytes`.
            let count = (bytes - 2) / 251
            let (deepest, path) = try await makeDirectories(user, count, last: bytes - count * 251 - 1, in: outer)
            #expect(path.utf8.count + 1 == bytes)
            try await user.createSubvolume("sv", in: deepest)
            await user.close(deepest)
            if bytes <= 3823 {
                #expect(try await user.nestedSubvolumes(of: outer).map(\.path) == [path + "/sv"])
            } else {
                await #expect(throws: tooLong) { try await user.nestedSubvolumes(of: outer) }
            }
            let root = sandbox.root
            let rootHome = try await root.openDirectory("home", in: directory)
            try await root.withDirectory("outer", in: rootHome) { rootOuter throws(FSError) in
                if bytes <= 4079 {
                    #expect(try await root.nestedSubvolumes(of: rootOuter).map(\.path) == [path + "/sv"])
                } else {
                    await #expect(throws: tooLong) { try await root.nestedSubvolumes(of: rootOuter) }
                }
            }
            await root.close(rootHome)
        }
    }

    @Test(
        "the lookup's limit is per subvolume: a nested subvolume deeper than 4079 bytes from the walked one, but not from its own, is listed",
        arguments: Backends.all)
    func lookupLimitPerSubvolume(backend: any ConformanceBackend) async throws {
        try await withUsersOuter(backend) { sandbox, directory, user, outer in
            // 9 directories of 250 bytes in each: 2259 bytes.
            let (first, firstPath) = try await makeDirectories(user, 9, in: outer)
            try await user.createSubvolume("sv1", in: first)
            let sv1 = try await user.openDirectory("sv1", in: first)
            await user.close(first)
            let (second, secondPath) = try await makeDirectories(user, 9, in: sv1)
            try await user.createSubvolume("sv2", in: second)
            await user.close(second)
            await user.close(sv1)
            let expected = ["\(firstPath)/sv1/\(secondPath)/sv2", "\(firstPath)/sv1"]
            #expect(try await user.nestedSubvolumes(of: outer).map(\.path) == expected)
            let root = sandbox.root
            let rootHome = try await root.openDirectory("home", in: directory)
            try await root.withDirectory("outer", in: rootHome) { rootOuter throws(FSError) in
                #expect(try await root.nestedSubvolumes(of: rootOuter).map(\.path) == expected)
            }
            await root.close(rootHome)
        }
    }

    @Test("a user's listing of more nested subvolumes than one kernel buffer holds (255) has each once", arguments: Backends.all)
    func manyNested(backend: any ConformanceBackend) async throws {
        try await withUsersOuter(backend) { sandbox, directory, user, outer in
            let names = (0..<300).map { "s-\($0)" }
            for name in names { try await user.createSubvolume(EntryName(name)!, in: outer) }
            let listed = try await user.nestedSubvolumes(of: outer)
            #expect(listed.map(\.path).sorted() == names.sorted())
            #expect(Set(listed.map(\.id)).count == 300)
            // Siblings by id: in the order they were made.
            #expect(listed.map(\.path) == names)
            for name in names { try await user.deleteSubvolume(EntryName(name)!, in: outer) }
        }
    }

    @Test(
        "a user's listing: a nested subvolume it may read but not search is listed, what it holds is not; one it may not read is left out",
        arguments: Backends.all)
    func unsearchableSubvolume(backend: any ConformanceBackend) async throws {
        try await withUsersOuter(backend) { sandbox, directory, user, outer in
            let root = sandbox.root
            let rootHome = try await root.openDirectory("home", in: directory)
            try await root.withDirectory("outer", in: rootHome) { rootOuter throws(FSError) in
                try await root.createSubvolume("inner", in: rootOuter)
                try await root.withDirectory("inner", in: rootOuter) { inner throws(FSError) in
                    try await root.createSubvolume("deepest", in: inner)
                }
            }
            await root.close(rootHome)
            #expect(try await user.nestedSubvolumes(of: outer).map(\.path) == ["inner/deepest", "inner"])
            try await sandbox.setPermissions("home/outer/inner", 0o744)
            #expect(try await user.nestedSubvolumes(of: outer).map(\.path) == ["inner"])
            try await sandbox.setPermissions("home/outer/inner", 0o711)
            #expect(try await user.nestedSubvolumes(of: outer).isEmpty)
            try await sandbox.setPermissions("home/outer/inner", 0o755)
            #expect(try await user.list(outer).map(\.name) == ["inner"])
        }
    }
}
