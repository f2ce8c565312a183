import FSProtocol
import Testing
import TestSupport

/// SPEC §5: what survives a crash. A deletion is on disk only once a
/// transaction commits it: a sync, or a snapshot (which commits).
@Suite("Conformance: crashes")
struct CrashConformance {
    @Test("a deletion without a sync comes back after a crash; after a sync it stays", arguments: Backends.all)
    func deletionsNeedSync(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend, SandboxOptions(crashable: true)) { sandbox, directory in
            var fs = sandbox.root
            for name: EntryName in ["a", "b", "c"] { try await fs.createSubvolume(name, in: directory) }
            try await fs.sync(directory)
            try await fs.deleteSubvolume("a", in: directory)
            // The sandbox's directory stays open (withSandbox closes it):
            // the crashed filesystem is unmounted lazily.
            try await sandbox.crash()
            fs = sandbox.root
            var reopened = try await sandbox.open()
            #expect(try await fs.names(reopened) == ["a", "b", "c"])
            try await fs.deleteSubvolume("a", in: reopened)
            try await fs.sync(reopened)
            await fs.close(reopened)
            try await sandbox.crash()
            fs = sandbox.root
            reopened = try await sandbox.open()
            #expect(try await fs.names(reopened) == ["b", "c"])
            await fs.close(reopened)
        }
    }

    @Test("creating a snapshot commits; creating a subvolume does not", arguments: Backends.all)
    func snapshotCommits(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend, SandboxOptions(crashable: true)) { sandbox, directory in
            var fs = sandbox.root
            for name: EntryName in ["a", "b", "source"] { try await fs.createSubvolume(name, in: directory) }
            try await fs.sync(directory)
            try await fs.deleteSubvolume("a", in: directory)
            try await fs.rename("b", in: directory, to: "b-renamed", in: directory, mode: .noReplace)
            try await fs.withDirectory("source", in: directory) { source throws(FSError) in
                try await fs.snapshot(source, as: "snap", in: directory, readOnly: false)
            }
            try await fs.deleteSubvolume("snap", in: directory)
            try await fs.createSubvolume("new", in: directory)
            try await sandbox.crash()
            fs = sandbox.root
            let reopened = try await sandbox.open()
            #expect(try await fs.names(reopened) == ["b-renamed", "snap", "source"])
            await fs.close(reopened)
        }
    }

    @Test("setting read-only commits: it survives a crash without a sync", arguments: Backends.all)
    func setReadOnlyCommits(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend, SandboxOptions(crashable: true)) { sandbox, directory in
            var fs = sandbox.root
            try await fs.createSubvolume("s", in: directory)
            try await fs.sync(directory)
            try await fs.withDirectory("s", in: directory) { s throws(FSError) in try await fs.setReadOnly(true, of: s) }
            try await sandbox.crash()
            fs = sandbox.root
            let reopened = try await sandbox.open()
            let info = try await fs.withDirectory("s", in: reopened) { s throws(FSError) in try await fs.subvolumeInfo(of: s) }
            #expect(info.isReadOnly)
            await fs.close(reopened)
        }
    }

    @Test("a received subvolume survives a crash whole: received UUID and read-only", arguments: Backends.all)
    func receiveThenCrash(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend, SandboxOptions(crashable: true)) { sandbox, directory in
            var fs = sandbox.root
            let uuid = ReceiveConformance.freshUUID()
            try await fs.receive(try ReceiveConformance.stream("m-1", uuid), in: directory)
            try await sandbox.crash()
            fs = sandbox.root
            let reopened = try await sandbox.open()
            let info = try await fs.withDirectory("m-1", in: reopened) { s throws(FSError) in try await fs.subvolumeInfo(of: s) }
            #expect(info.receivedUUID == uuid)
            #expect(info.isReadOnly)
            await fs.close(reopened)
        }
    }
}
