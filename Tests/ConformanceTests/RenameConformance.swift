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
}
