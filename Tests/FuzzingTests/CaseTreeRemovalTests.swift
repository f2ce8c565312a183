import FSProtocol
@testable import Fuzzing
import MachineLayout
import Testing
import TestSupport

/// The removal of a differential case's tree, on every backend: read-only
/// and nested subvolumes go, links are unlinked and never followed.
@Suite("Removing a case tree")
struct CaseTreeRemovalTests {
    @Test("read-only, received and nested subvolumes go; what links name outside the tree stays", arguments: Backends.all)
    func removesWithoutFollowingLinks(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, directory in
            var layout = try Layout.parse(
                """
                dir    outside
                file   outside/precious
                subvol outside/image ro
                dir    case
                subvol case/s ro
                subvol case/s/inner ro
                subvol case/s/inner/deeper
                dir    case/s/d
                subvol case/s/d/deeper ro
                file   case/s/d/f
                link   case/s/out -> ../../outside
                link   case/s/d/up -> ../../../outside/image
                link   case/abs -> \(sandbox.path)/outside
                subvol case/r ro received
                file   case/file
                """)
            layout.root = sandbox.path
            try await layout.build(on: sandbox.root) { BtrfsUUID(high: 0x6361_7365, low: UInt64.random(in: 1...UInt64.max)) }

            let problems = await CaseTreeRemoval.remove("case", in: sandbox.path, on: sandbox.root)

            #expect(problems == [])
            let fs = sandbox.root
            #expect(try await fs.names(directory) == ["outside"])
            try await fs.withDirectory("outside", in: directory) { outside throws(FSError) in
                #expect(try await fs.list(outside).map(\.name.rawValue) == ["image", "precious"])
                try await fs.withDirectory("image", in: outside) { image throws(FSError) in
                    #expect(try await fs.subvolumeInfo(of: image).isReadOnly)
                }
            }
        }
    }

    @Test("a name that is not there: nothing to do, no problem", arguments: Backends.all)
    func missing(backend: any ConformanceBackend) async throws {
        try await withSandbox(backend) { sandbox, _ in
            #expect(await CaseTreeRemoval.remove("gone", in: sandbox.path, on: sandbox.root) == [])
        }
    }
}
