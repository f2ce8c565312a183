import FSProtocol
import Testing
import TestSupport

/// SPEC §5: what renaming does with subvolumes, on every backend.
@Suite("Conformance: renaming")
struct RenameConformance {
    @Test("a subvolume over another subvolume, even empty, gives ENOTEMPTY", arguments: Backends.all)
    func subvolumeOverSubvolume(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("a", in: directory)
            try await fs.createSubvolume("b", in: directory)
            await #expect(throws: FSError(.notEmpty, .rename, name: "a", destination: "b")) {
                try await fs.rename("a", in: directory, to: "b", in: directory, mode: .replace)
            }
            try await fs.makeDirectory("plain", in: directory)
            await #expect(throws: FSError(.notEmpty, .rename, name: "plain", destination: "b")) {
                try await fs.rename("plain", in: directory, to: "b", in: directory, mode: .replace)
            }
        }
    }

    @Test("a subvolume over an empty plain directory replaces it", arguments: Backends.all)
    func subvolumeOverEmptyDirectory(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("a", in: directory)
            try await fs.makeDirectory("b", in: directory)
            try await fs.rename("a", in: directory, to: "b", in: directory, mode: .replace)
            #expect(try await fs.names(directory) == ["b"])
            #expect(try await fs.status(of: "b", in: directory).kind == .subvolume)
        }
    }

    @Test("without replacing, an existing destination gives EEXIST", arguments: Backends.all)
    func noReplace(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("a", in: directory)
            try await fs.makeDirectory("b", in: directory)
            await #expect(throws: FSError(.exists, .rename, name: "a", destination: "b")) {
                try await fs.rename("a", in: directory, to: "b", in: directory, mode: .noReplace)
            }
        }
    }

    @Test("a file over a directory gives EISDIR, a directory over a file ENOTDIR", arguments: Backends.all)
    func kindsMustMatch(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("s", in: directory)
            try await fs.writeFile("f", in: directory, "x")
            await #expect(throws: FSError(.isDirectory, .rename, name: "f", destination: "s")) {
                try await fs.rename("f", in: directory, to: "s", in: directory, mode: .replace)
            }
            await #expect(throws: FSError(.notDirectory, .rename, name: "s", destination: "f")) {
                try await fs.rename("s", in: directory, to: "f", in: directory, mode: .replace)
            }
        }
    }

    @Test("a link replaces a link atomically, the administrator's switch", arguments: Backends.all)
    func linkSwitch(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSymlink("m", in: directory, target: "m-1")
            try await fs.createSymlink("new-m", in: directory, target: "m-2")
            try await fs.rename("new-m", in: directory, to: "m", in: directory, mode: .replace)
            #expect(try await fs.readLink("m", in: directory) == "m-2")
            #expect(try await fs.names(directory) == ["m"])
        }
    }

    @Test("a read-only subvolume cannot move to another directory, but can within its own", arguments: Backends.all)
    func readOnlyMoves(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("ro", in: directory)
            try await fs.withDirectory("ro", in: directory) { s throws(FSError) in try await fs.setReadOnly(true, of: s) }
            try await fs.createSubvolume("rw", in: directory)
            try await fs.makeDirectory("other", in: directory)
            let other = try await fs.openDirectory("other", in: directory)
            await #expect(throws: FSError(.readOnly, .rename, name: "ro", destination: "ro")) {
                try await fs.rename("ro", in: directory, to: "ro", in: other, mode: .noReplace)
            }
            try await fs.rename("ro", in: directory, to: "ro-renamed", in: directory, mode: .noReplace)
            try await fs.rename("rw", in: directory, to: "rw", in: other, mode: .noReplace)
            #expect(try await fs.names(directory) == ["other", "ro-renamed"])
            #expect(try await fs.names(other) == ["rw"])
            await fs.close(other)
        }
    }

    @Test("only a subvolume root moves between subvolumes: anything else gives EXDEV", arguments: Backends.all)
    func crossSubvolume(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("s", in: directory)
            let s = try await fs.openDirectory("s", in: directory)
            try await fs.makeDirectory("plain", in: directory)
            try await fs.writeFile("file", in: directory, "x")
            await #expect(throws: FSError(.crossDevice, .rename, name: "plain", destination: "plain")) {
                try await fs.rename("plain", in: directory, to: "plain", in: s, mode: .noReplace)
            }
            await #expect(throws: FSError(.crossDevice, .rename, name: "file", destination: "file")) {
                try await fs.rename("file", in: directory, to: "file", in: s, mode: .noReplace)
            }
            await fs.close(s)
        }
    }

    @Test("a subvolume's parent id is the subvolume holding it, and follows a rename into another", arguments: Backends.all)
    func parentIDFollowsRename(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("a", in: directory)
            try await fs.createSubvolume("b", in: directory)
            let a = try await fs.openDirectory("a", in: directory)
            let b = try await fs.openDirectory("b", in: directory)
            let top = try await fs.subvolumeID(of: directory)
            #expect(try await fs.subvolumeInfo(of: b).parentID == top)
            try await fs.rename("b", in: directory, to: "b", in: a, mode: .noReplace)
            let aInfo = try await fs.subvolumeInfo(of: a)
            let bInfo = try await fs.subvolumeInfo(of: b)
            #expect(bInfo.parentID == aInfo.id)
            #expect(try await fs.nestedSubvolumes(of: a).map(\.path) == ["b"])
            await #expect(throws: FSError(.notEmpty, .deleteSubvolume, name: "a")) {
                try await fs.deleteSubvolume("a", in: directory)
            }
            try await fs.deleteSubvolume("b", in: a)
            await fs.close(b)
            await fs.close(a)
        }
    }

    @Test("rename: ENOENT, EBUSY at a mount point, EINVAL into itself, ENOTEMPTY over a full directory, a no-op onto itself", arguments: Backends.all)
    func renameChecks(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            await #expect(throws: FSError(.noEntry, .rename, name: "missing", destination: "x")) {
                try await fs.rename("missing", in: directory, to: "x", in: directory, mode: .replace)
            }
            try await fs.makeDirectory("a", in: directory)
            let a = try await fs.openDirectory("a", in: directory)
            await #expect(throws: FSError(.invalidArgument, .rename, name: "a", destination: "inside")) {
                try await fs.rename("a", in: directory, to: "inside", in: a, mode: .noReplace)
            }
            try await fs.makeDirectory("full", in: directory)
            try await fs.withDirectory("full", in: directory) { d throws(FSError) in try await fs.makeDirectory("x", in: d) }
            await #expect(throws: FSError(.notEmpty, .rename, name: "a", destination: "full")) {
                try await fs.rename("a", in: directory, to: "full", in: directory, mode: .replace)
            }
            try await fs.rename("a", in: directory, to: "a", in: directory, mode: .replace)
            try await fs.makeDirectory("t", in: directory)
            try await fs.makeDirectory("u", in: directory)
            try await sandbox.mountTmpfs(at: "t")
            await #expect(throws: FSError(.busy, .rename, name: "t", destination: "moved")) {
                try await fs.rename("t", in: directory, to: "moved", in: directory, mode: .noReplace)
            }
            await #expect(throws: FSError(.busy, .rename, name: "u", destination: "t")) {
                try await fs.rename("u", in: directory, to: "t", in: directory, mode: .replace)
            }
            // Into the tmpfs: another filesystem.
            let t = try await fs.openDirectory("t", in: directory)
            await #expect(throws: FSError(.crossDevice, .rename, name: "u", destination: "u")) {
                try await fs.rename("u", in: directory, to: "u", in: t, mode: .noReplace)
            }
            await fs.close(t)
            try await sandbox.unmount("t")
            #expect(try await fs.names(directory) == ["a", "full", "t", "u"])
            await fs.close(a)
        }
    }

    @Test("rename inside a read-only subvolume gives EROFS; without write permission, EACCES", arguments: Backends.all)
    func renameNeedsWritable(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("s", in: directory)
            let s = try await fs.openDirectory("s", in: directory)
            try await fs.makeDirectory("d", in: s)
            try await fs.setReadOnly(true, of: s)
            await #expect(throws: FSError(.readOnly, .rename, name: "d", destination: "e")) {
                try await fs.rename("d", in: s, to: "e", in: s, mode: .noReplace)
            }
            try await fs.setReadOnly(false, of: s)
            await fs.close(s)
            try await fs.makeDirectory("d", in: directory)
            let user = try await sandbox.user(unprivilegedUser, group: unprivilegedUser)
            let top = try await sandbox.open(as: user)
            await #expect(throws: FSError(.accessDenied, .rename, name: "d", destination: "e")) {
                try await user.rename("d", in: top, to: "e", in: top, mode: .noReplace)
            }
            await user.close(top)
        }
    }
}
