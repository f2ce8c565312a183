import BuildFarm
import FSProtocol
import SimFS

/// The conformance suite on SimFS: each sandbox a btrfs volume of a fresh
/// simulated host.
public struct SimulatedBackend: ConformanceBackend {
    public init() {}

    public var description: String { "simulated" }

    /// Like the real backend's: a plain directory on a btrfs volume, or,
    /// for a filesystem of its own, the volume's top.
    public func makeSandbox(_ options: SandboxOptions) async throws -> any Sandbox {
        let host = SimulatedHost()
        try host.addVolume("/test", userSubvolumeRemovalAllowed: options.userSubvolumeRemovalAllowed)
        let ownFilesystem = options.crashable || !options.userSubvolumeRemovalAllowed
        if !ownFilesystem { try host.addDirectory("/test/sandbox") }
        return SimulatedSandbox(host: host, path: ownFilesystem ? "/test" : "/test/sandbox", root: host.spawn(.root))
    }
}

final class SimulatedSandbox: Sandbox, @unchecked Sendable {
    let host: SimulatedHost
    let path: String
    private(set) var root: any FileSystem

    init(host: SimulatedHost, path: String, root: SimulatedProcess) {
        self.host = host
        self.path = path
        self.root = root
    }

    func user(_ uid: UInt32, group: UInt32) async throws -> any FileSystem {
        host.spawn(Credentials(user: uid, group: group))
    }

    private var started: [Int32: SimulatedProcess] = [:]

    func startProcess(as uid: UInt32) async throws -> Int32 {
        let process = host.spawn(Credentials(user: uid, group: uid))
        started[process.processID] = process
        return process.processID
    }

    func stopProcess(_ pid: Int32) async {
        if let process = started.removeValue(forKey: pid) { host.kill(process) }
    }

    func mountTmpfs(at relativePath: String) async throws {
        try host.addMount(path + "/" + relativePath)
    }

    func unmount(_ relativePath: String) async throws {}

    func setDefaultSubvolume(_ relativePath: String) async throws {
        try host.setDefaultSubvolume(path + "/" + relativePath)
    }

    func receiveSubvolume(at relativePath: String) async throws {
        try host.addSubvolume(path + "/" + relativePath, readOnly: true, received: true)
    }

    func makeDirectory(named bytes: [UInt8]) async throws {
        if let text = String(validating: bytes, as: UTF8.self) {
            try host.addDirectory(path + "/" + text)
        } else {
            try host.addUndecodable(.directory, named: Self.rendering(of: bytes), in: path)
        }
    }

    func makeSubvolume(named bytes: [UInt8], in relativeDirectory: String) async throws {
        let directory = path + "/" + relativeDirectory
        if let text = String(validating: bytes, as: UTF8.self) {
            try host.addSubvolume(directory + "/" + text)
        } else {
            try host.addUndecodable(.subvolume, named: Self.rendering(of: bytes), in: directory)
        }
    }

    func setPermissions(_ relativePath: String, _ permissions: UInt16) async throws {
        try host.setAttributes(path + "/" + relativePath, owner: nil, group: nil, permissions: permissions)
    }

    func makeFifo(_ relativePath: String) async throws {
        try host.addSpecial(path + "/" + relativePath)
    }

    func makeSymlink(named bytes: [UInt8], target: [UInt8]) async throws {
        if let text = String(validating: bytes, as: UTF8.self) {
            try host.addSymlink(path + "/" + text, targetBytes: target)
        } else {
            try host.addUndecodable(
                .symlink, named: Self.rendering(of: bytes), in: path, target: String(decoding: target, as: UTF8.self))
        }
    }

    func shellSnapshot(_ source: String, _ destination: String) async throws {
        guard let source = EntryName(source), let destination = EntryName(destination) else { return }
        let directory = try await open()
        do {
            try await ShellTools.snapshot(source, to: destination, in: directory, on: root)
        } catch {
            await root.close(directory)
            throw error
        }
        await root.close(directory)
    }

    func crash() async throws {
        host.crash()
        root = host.spawn(.root)
    }

    func tearDown() async {}
}
