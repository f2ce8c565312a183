import FSProtocol
import MachineLayout
import Testing
import TestSupport

/// A layout built through the protocol and read back through it gives the
/// same tree on every backend.
@Suite("Layouts built and read through the protocol")
struct LayoutThroughProtocolTests {
    static let text = """
        dir    v/m owner=1000:1000
        subvol v/m/m-1 ro
        subvol v/m/m-1.received received
        subvol v/m/m-default snapshot-of=v/m/m-1 owner=1000:1000
        subvol v/m/m-default-7-1 snapshot-of=v/m/m-default
        subvol v/m/m-default-7-1/nested ro
        dir    v/m/m-default-7-1/plain
        subvol v/m/m-default-7-2 ro
        subvol v/m/m-default-7-2/inner ro
        dir    v/m/m-default-7-2/d
        file   v/m/m-default-7-2/d/f
        subvol v/m/m-default-7-2/d/deeper
        link   v/m/m -> m-1
        link   v/m/m-latest -> ../m/m-1
        file   v/m/m-default.lock owner=1000:1000
        """

    @Test(
        "build, then read back: the same entries, kinds, flags, owners and targets (read-only ones may hold entries)",
        arguments: Backends.all)
    func roundTrip(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, _ in
            var layout = try Layout.parse(Self.text)
            layout.root = sandbox.path
            var counter: UInt64 = 0
            var generator = SystemRandomNumberGenerator()
            let run: UInt64 = generator.next()
            try await layout.build(on: sandbox.root) {
                counter += 1
                return BtrfsUUID(high: run, low: counter)
            }
            let read = try await Layout.read(from: sandbox.root, root: sandbox.path)
            let lines = read.entries.map { entry in
                "\(entry.kind.rawValue) \(entry.path)\(entry.target.map { " -> \($0)" } ?? "")"
                    + (entry.readOnly ? " ro" : "") + (entry.received ? " received" : "")
                    + (entry.owner != 0 ? " owner=\(entry.owner):\(entry.group)" : "")
            }
            #expect(
                lines == [
                    "dir v",
                    "dir v/m owner=1000:1000",
                    "link v/m/m -> m-1",
                    "subvol v/m/m-1 ro",
                    "subvol v/m/m-1.received ro received",
                    "subvol v/m/m-default owner=1000:1000",
                    // A snapshot has its source's owner.
                    "subvol v/m/m-default-7-1 owner=1000:1000",
                    "subvol v/m/m-default-7-1/nested ro",
                    "dir v/m/m-default-7-1/plain",
                    // Read-only flags are set last: a read-only subvolume
                    // holds what the layout puts in it.
                    "subvol v/m/m-default-7-2 ro",
                    "dir v/m/m-default-7-2/d",
                    "subvol v/m/m-default-7-2/d/deeper",
                    "file v/m/m-default-7-2/d/f",
                    "subvol v/m/m-default-7-2/inner ro",
                    "file v/m/m-default.lock owner=1000:1000",
                    "link v/m/m-latest -> ../m/m-1",
                ])
            // Nested read-only subvolumes do not stop the sandbox's removal.
            try await sandbox.root.withDirectory("v", in: try await sandbox.open()) { v throws(FSError) in
                try await sandbox.root.withDirectory("m", in: v) { m throws(FSError) in
                    try await sandbox.root.withDirectory("m-default-7-1", in: m) { stray throws(FSError) in
                        try await sandbox.root.withDirectory("nested", in: stray) { nested throws(FSError) in
                            try await sandbox.root.setReadOnly(false, of: nested)
                        }
                    }
                }
            }
        }
    }

    @Test("what the protocol cannot make is refused with the entry's path", arguments: [
        ("fifo v/p", "v/p: a fifo cannot be made through the protocol"),
        ("dir v/d mode=0700", "v/d: mode= cannot be set through the protocol"),
        ("subvol v/s default", "v/s: the default subvolume cannot be set through the protocol"),
    ])
    func refused(text: String, message: String) async throws {
        try await withSandbox(Backends.all[0]) { sandbox, _ in
            var layout = try Layout.parse(text)
            layout.root = sandbox.path
            let error = await #expect(throws: Layout.BuildError.self) {
                try await layout.build(on: sandbox.root) { .zero }
            }
            #expect(error?.description == message)
        }
    }
}
