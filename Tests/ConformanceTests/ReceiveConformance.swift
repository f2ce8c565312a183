import FSProtocol
import Testing
import TestSupport

/// `btrfs receive`: what a send stream makes, on every backend, from the
/// same stream bytes (a header and an end command).
@Suite("Conformance: receiving send streams")
struct ReceiveConformance {
    /// A fresh UUID: the real filesystem is shared by every test, and a
    /// receive finds parents anywhere on it.
    static func freshUUID() -> BtrfsUUID {
        var generator = SystemRandomNumberGenerator()
        return BtrfsUUID(high: generator.next(), low: generator.next())
    }

    static func stream(_ name: EntryName, _ uuid: BtrfsUUID, parent: BtrfsUUID? = nil, complete: Bool = true)
        throws -> SendStream
    {
        let header = SendStreamHeader(
            version: 1, name: name, uuid: uuid, transactionID: 7,
            parent: parent.map { .init(uuid: $0, transactionID: 7) })
        let bytes = SendStream.empty(header)
        return try SendStream(prefix: complete ? bytes : header.bytes)
    }

    @Test("a full stream makes a read-only subvolume carrying the stream's UUID as its received UUID", arguments: Backends.all)
    func fullStream(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            let uuid = Self.freshUUID()
            try await fs.receive(try Self.stream("m-1", uuid), in: directory)
            try await fs.withDirectory("m-1", in: directory) { revision throws(FSError) in
                let info = try await fs.subvolumeInfo(of: revision)
                #expect(info.isReadOnly)
                #expect(info.receivedUUID == uuid)
                #expect(info.uuid != uuid)
                #expect(info.parentUUID == .zero)
                let status = try await fs.status(of: revision)
                #expect(status.kind == .subvolume)
                #expect(status.owner == 0)
            }
            #expect(try await fs.names(directory) == ["m-1"])
        }
    }

    @Test("an incremental stream snapshots the parent it finds by received UUID", arguments: Backends.all)
    func incrementalStream(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            let (first, second) = (Self.freshUUID(), Self.freshUUID())
            try await fs.receive(try Self.stream("m-1", first), in: directory)
            try await fs.receive(try Self.stream("m-2", second, parent: first), in: directory)
            let parent = try await fs.withDirectory("m-1", in: directory) { revision throws(FSError) in
                try await fs.subvolumeInfo(of: revision)
            }
            let child = try await fs.withDirectory("m-2", in: directory) { revision throws(FSError) in
                try await fs.subvolumeInfo(of: revision)
            }
            #expect(child.parentUUID == parent.uuid)
            #expect(child.receivedUUID == second)
            #expect(child.isReadOnly)
        }
    }

    @Test("an incremental stream without its parent gives ENOENT and creates nothing", arguments: Backends.all)
    func missingParent(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            let orphan = try Self.stream("m-2", Self.freshUUID(), parent: Self.freshUUID())
            await #expect(throws: FSError(.noEntry, .receive, name: "m-2")) {
                try await fs.receive(orphan, in: directory)
            }
            let names = try await fs.names(directory)
            #expect(names.isEmpty)
        }
    }

    @Test("a stream whose subvolume name is taken gives EEXIST and changes nothing", arguments: Backends.all)
    func nameTaken(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.makeDirectory("m-1", in: directory)
            let stream = try Self.stream("m-1", Self.freshUUID())
            await #expect(throws: FSError(.exists, .receive, name: "m-1")) {
                try await fs.receive(stream, in: directory)
            }
            #expect(try await fs.list(directory).map(\.kind) == [.directory])
        }
    }

    @Test("a stream cut before its end leaves a writable subvolume without received UUID, and EIO", arguments: Backends.all)
    func cutStream(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            let cut = try Self.stream("m-1", Self.freshUUID(), complete: false)
            await #expect(throws: FSError(.ioError, .receive, name: "m-1")) {
                try await fs.receive(cut, in: directory)
            }
            try await fs.withDirectory("m-1", in: directory) { partial throws(FSError) in
                let info = try await fs.subvolumeInfo(of: partial)
                #expect(!info.isReadOnly)
                #expect(info.receivedUUID == .zero)
            }
        }
    }

    @Test("a stream into a read-only subvolume gives EROFS", arguments: Backends.all)
    func intoReadOnly(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("frozen", in: directory)
            let stream = try Self.stream("m-1", Self.freshUUID())
            let frozen = try await fs.openDirectory("frozen", in: directory)
            try await fs.setReadOnly(true, of: frozen)
            await #expect(throws: FSError(.readOnly, .receive, name: "m-1")) {
                try await fs.receive(stream, in: frozen)
            }
            try await fs.setReadOnly(false, of: frozen)
            await fs.close(frozen)
        }
    }

    @Test("receive by an unprivileged user fails (EPERM: its ioctls need root) and creates nothing", arguments: Backends.all)
    func receiveUnprivileged(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let (user, home) = try await userHome(sandbox, directory)
            let stream = try ReceiveConformance.stream("m-1", ReceiveConformance.freshUUID())
            await #expect(throws: FSError(.notPermitted, .receive, name: "m-1")) { try await user.receive(stream, in: home) }
            #expect(try await user.names(home) == [])
        }
    }

    @Test("an incremental stream finds its parent by the parent's own UUID too", arguments: Backends.all)
    func receiveParentByUUID(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.createSubvolume("base", in: directory)
            let base = try await fs.withDirectory("base", in: directory) { b throws(FSError) in
                try await fs.setReadOnly(true, of: b)
                return try await fs.subvolumeInfo(of: b)
            }
            let incremental = try ReceiveConformance.stream("m-2", ReceiveConformance.freshUUID(), parent: base.uuid)
            try await fs.receive(incremental, in: directory)
            let child = try await fs.withDirectory("m-2", in: directory) { d throws(FSError) in try await fs.subvolumeInfo(of: d) }
            #expect(child.parentUUID == base.uuid)
            #expect(child.isReadOnly)
        }
    }

    @Test("receive into a tmpfs fails: not btrfs", arguments: Backends.all)
    func receiveNotBtrfs(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            let fs = sandbox.root
            try await fs.makeDirectory("t", in: directory)
            try await sandbox.mountTmpfs(at: "t")
            let t = try await fs.openDirectory("t", in: directory)
            let stream = try ReceiveConformance.stream("m-1", ReceiveConformance.freshUUID())
            await #expect(throws: FSError(.notBtrfs, .receive, name: "m-1")) { try await fs.receive(stream, in: t) }
            await fs.close(t)
            try await sandbox.unmount("t")
        }
    }
}
