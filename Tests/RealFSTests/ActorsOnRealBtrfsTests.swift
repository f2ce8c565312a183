import BuildFarm
import Cleanup
import FSProtocol
import Foundation
import Testing
import TestSupport

/// The actor models run on the real backend as on the simulated one.
@Suite(
    "Actors on a real btrfs",
    .enabled(if: realBackendRuns, Comment(rawValue: RealBackendAvailability.problem ?? "")))
struct ActorsOnRealBtrfsTests {
    @Test("an agent bootstraps a machine and builds on it")
    func agent() async throws {
        try requireRealBackend()
        let tree = try RealTree(named: "agent")
        try tree.directory("machines/v/m")
        try tree.directory("locks")
        try tree.subvolume("machines/v/m/m-1", readOnly: true)
        try tree.symlink("machines/v/m/m", to: "m-1")
        let fs = RealFileSystemForTests.make()
        let environment = ActorEnvironment(
            fileSystem: fs, clock: SystemClock(), machinesRoot: tree.path("machines"), lockDirectory: tree.path("locks"))
        let configuration = BuildAgent.Configuration(
            toolchain: .default, builds: 2, buildSeconds: 0, bootstrapSeconds: 0, pollSeconds: 0)
        try await BuildAgent(configuration, environment: environment).run()
        #expect(try tree.names("machines/v/m") == ["m", "m-1", "m-default"])
        #expect(tree.exists("machines/v/m/m-default/bootstrapped"))
        let directory = try await fs.openRoot(tree.path("machines/v/m"))
        let revision = try await fs.withDirectory("m-1", in: directory) { handle throws(FSError) in
            try await fs.subvolumeInfo(of: handle)
        }
        let bootstrapped = try await fs.withDirectory("m-default", in: directory) { handle throws(FSError) in
            try await fs.subvolumeInfo(of: handle)
        }
        #expect(bootstrapped.parentUUID == revision.uuid)
        await fs.close(directory)
        await tree.remove()
    }

    @Test("the administrator upgrades a machine: new revision, link switched, old one deleted")
    func administrator() async throws {
        try requireRealBackend()
        let tree = try RealTree(named: "admin")
        try tree.directory("machines/v/m")
        try tree.subvolume("machines/v/m/m-1", readOnly: true)
        try tree.symlink("machines/v/m/m", to: "m-1")
        let environment = ActorEnvironment(
            fileSystem: RealFileSystemForTests.make(), clock: SystemClock(), machinesRoot: tree.path("machines"))
        let administrator = Administrator(
            machine: MachineRef(volume: "v", machine: "m"), procedure: .upgrade(from: 1, to: 2, deleteOld: true),
            environment: environment)
        try await administrator.run()
        #expect(try tree.names("machines/v/m") == ["m", "m-2"])
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: tree.path("machines/v/m/m")) == "m-2")
        #expect(try tree.isReadOnly("machines/v/m/m-2"))
        let owner = try FileManager.default.attributesOfItem(atPath: tree.path("machines/v/m/m-2"))[.ownerAccountID]
        #expect((owner as? NSNumber)?.intValue == 1000)
        await tree.remove()
    }
}
