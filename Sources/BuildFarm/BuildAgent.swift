import MachineLayout
import FSProtocol

/// A model of one bbot agent instance (SPEC §4), acting on the machines
/// tree through the protocol. Several run at once, per toolchain and
/// across toolchains.
///
/// Enumeration, serialised among the instances of a toolchain by the lock
/// `<lockDirectory>/bbot-agent-<tc>.lock`: for each machine, read the
/// current link; without one, delete this toolchain's `<m>-<tc>`; else take
/// the machine lock (busy: another instance has the machine), snapshot the
/// link's target under a working name, and compare it with `<m>-<tc>`: when
/// that is missing or stale, boot the snapshot to bootstrap it and publish
/// it by renaming it over the name (after deleting the stale one); else
/// delete the snapshot. A build: take the machine lock, snapshot
/// `<m>-<tc>`, run the machine in it for a while, delete it, release.
public struct BuildAgent: Sendable {
    public struct Configuration: Hashable, Sendable {
        public var toolchain: Toolchain
        /// How many builds the instance runs before it stops.
        public var builds: Int
        public var buildSeconds: Int
        public var bootstrapSeconds: Int
        /// Whether it shells out to `btrfs subvolume snapshot` (which
        /// snapshots into an existing directory) rather than call
        /// libbtrfsutil (which fails with EEXIST).
        public var shellSnapshots: Bool
        /// How long it waits before it looks again for a machine or a lock.
        public var pollSeconds: Int

        public init(
            toolchain: Toolchain, builds: Int = 1, buildSeconds: Int = 300, bootstrapSeconds: Int = 600,
            shellSnapshots: Bool = false, pollSeconds: Int = 30
        ) {
            self.toolchain = toolchain
            self.builds = builds
            self.buildSeconds = buildSeconds
            self.bootstrapSeconds = bootstrapSeconds
            self.shellSnapshots = shellSnapshots
            self.pollSeconds = pollSeconds
        }
    }

    /// The name of the marker a bootstrap leaves in the machine.
    public static let bootstrappedMarker: EntryName = "bootstrapped"

    public let configuration: Configuration
    public let environment: ActorEnvironment

    public init(_ configuration: Configuration, environment: ActorEnvironment) {
        self.configuration = configuration
        self.environment = environment
    }

    var fs: any FileSystem { environment.fileSystem }
    var toolchain: Toolchain { configuration.toolchain }

    /// Runs the configured builds. Errors of single steps are part of life
    /// (a machine vanished, a lock is busy); only a stop request (the clock
    /// throwing) ends the run early.
    public func run() async throws {
        var counter = Counter()
        var attempts = 0
        var built = 0
        while built < configuration.builds, attempts < configuration.builds * 20 {
            attempts += 1
            let machines = try await enumerate(counter: &counter)
            if machines.isEmpty {
                try await environment.clock.sleep(seconds: configuration.pollSeconds)
                continue
            }
            let machine = machines[built % machines.count]
            if try await build(on: machine, counter: &counter) {
                built += 1
            } else {
                try await environment.clock.sleep(seconds: configuration.pollSeconds)
            }
        }
    }

    /// The working-snapshot counter of this process.
    struct Counter {
        var next = 1

        mutating func name(_ machine: EntryName, _ toolchain: Toolchain, pid: Int32) -> EntryName {
            defer { next += 1 }
            return MachineNaming.workingSnapshot(machine, toolchain, pid: pid, counter: next)
        }
    }

    // MARK: Enumeration

    /// Enumerates the machines under the toolchain lock, bootstrapping
    /// what needs it; the machines ready to build on.
    func enumerate(counter: inout Counter) async throws -> [MachineRef] {
        let toolchainLock = try await takeToolchainLock()
        var ready: [MachineRef] = []
        if let root = try? await fs.openRoot(environment.machinesRoot) {
            for volume in (try? await fs.list(root)) ?? [] where volume.kind.isDirectory {
                guard let volumeDirectory = try? await fs.openDirectory(volume.name, in: root) else { continue }
                for machine in (try? await fs.list(volumeDirectory)) ?? []
                where machine.kind.isDirectory && MachineNaming.isMachineName(machine.name) {
                    let reference = MachineRef(volume: volume.name, machine: machine.name)
                    guard let directory = try? await fs.openDirectory(machine.name, in: volumeDirectory) else { continue }
                    if try await enumerate(reference, in: directory, counter: &counter) { ready.append(reference) }
                    await fs.close(directory)
                }
                await fs.close(volumeDirectory)
            }
            await fs.close(root)
        }
        if let toolchainLock { await fs.close(toolchainLock) }
        return ready
    }

    /// Waits for the per-toolchain lock that serialises enumeration.
    func takeToolchainLock() async throws -> FileHandle? {
        guard let name = EntryName("bbot-agent-\(toolchain.rawValue).lock"),
            let directory = try? await fs.openRoot(environment.lockDirectory)
        else { return nil }
        while true {
            guard let file = try? await fs.openFile(name, in: directory, options: [.create, .write]) else {
                await fs.close(directory)
                return nil
            }
            if (try? await fs.tryLock(file)) == true {
                await fs.close(directory)
                return file
            }
            await fs.close(file)
            do {
                try await environment.clock.sleep(seconds: configuration.pollSeconds)
            } catch {
                await fs.close(directory)
                throw error
            }
        }
    }

    /// One machine of the enumeration; whether it is ready to build on.
    func enumerate(_ machine: MachineRef, in directory: DirectoryHandle, counter: inout Counter) async throws -> Bool {
        let bootstrapped = MachineNaming.bootstrapped(machine.machine, toolchain)
        let target: String
        do {
            target = try await fs.readLink(machine.machine, in: directory)
        } catch {
            // No link: the machine is being deleted; drop our bootstrap.
            if (try? await fs.status(of: bootstrapped, in: directory)) != nil,
                let lock = try? await MachineLock.take(toolchain, machine: machine.machine, in: directory, on: fs)
            {
                try? await fs.deleteSubvolume(bootstrapped, in: directory)
                await lock.release(in: directory, on: fs)
            }
            return false
        }
        guard let targetName = EntryName(target),
            let lock = try? await MachineLock.take(toolchain, machine: machine.machine, in: directory, on: fs)
        else { return false }
        let working = counter.name(machine.machine, toolchain, pid: fs.processID)
        var ready = false
        do {
            let source = try await fs.openDirectory(targetName, in: directory)
            do {
                if configuration.shellSnapshots {
                    try await ShellTools.snapshot(targetName, to: working, in: directory, on: fs)
                } else {
                    try await fs.snapshot(source, as: working, in: directory, readOnly: false)
                }
            } catch {
                await fs.close(source)
                throw error
            }
            await fs.close(source)
            let fresh = try await fs.withDirectory(working, in: directory) { handle throws(FSError) in
                try await fs.subvolumeInfo(of: handle)
            }
            let current = try? await fs.withDirectory(bootstrapped, in: directory) { handle throws(FSError) in
                try await fs.subvolumeInfo(of: handle)
            }
            if let current, current.parentUUID == fresh.parentUUID {
                try await fs.deleteSubvolume(working, in: directory)
            } else {
                try await bootstrap(working, of: machine, in: directory)
                if current != nil { try await fs.deleteSubvolume(bootstrapped, in: directory) }
                try await fs.rename(working, in: directory, to: bootstrapped, in: directory, mode: .noReplace)
                environment.note(.published(machine.path(in: environment.machinesRoot) + "/" + bootstrapped.rawValue))
            }
            ready = true
        } catch let error as FSError {
            environment.note(.note("enumeration of \(machine) failed: \(error)"))
            try? await fs.deleteSubvolume(working, in: directory)
            ready = (try? await fs.status(of: bootstrapped, in: directory)) != nil
        }
        await lock.release(in: directory, on: fs)
        return ready
    }

    /// Boots the machine in the working snapshot to bootstrap the
    /// toolchain: the virtual machine runs in it for a while and leaves
    /// its marker.
    func bootstrap(_ working: EntryName, of machine: MachineRef, in directory: DirectoryHandle) async throws {
        let path = machine.path(in: environment.machinesRoot) + "/" + working.rawValue
        let vm = try await fs.openDirectory(working, in: directory)
        environment.note(.machineStarted(path))
        do {
            try await environment.clock.sleep(seconds: configuration.bootstrapSeconds)
            let marker = try await fs.openFile(Self.bootstrappedMarker, in: vm, options: [.create, .write])
            try await fs.write(Array("toolchain \(toolchain)\n".utf8), to: marker)
            await fs.close(marker)
        } catch {
            await fs.close(vm)
            throw error
        }
        await fs.close(vm)
        environment.note(.machineStopped(path))
    }

    // MARK: Building

    /// One build on a machine; whether it ran.
    func build(on machine: MachineRef, counter: inout Counter) async throws -> Bool {
        let bootstrapped = MachineNaming.bootstrapped(machine.machine, toolchain)
        guard let directory = try? await fs.openRoot(machine.path(in: environment.machinesRoot)) else { return false }
        guard let lock = try? await MachineLock.take(toolchain, machine: machine.machine, in: directory, on: fs) else {
            await fs.close(directory)
            return false
        }
        let working = counter.name(machine.machine, toolchain, pid: fs.processID)
        var built = false
        do {
            if configuration.shellSnapshots {
                try await ShellTools.snapshot(bootstrapped, to: working, in: directory, on: fs)
            } else {
                try await fs.withDirectory(bootstrapped, in: directory) { source throws(FSError) in
                    try await fs.snapshot(source, as: working, in: directory, readOnly: false)
                }
            }
            let path = machine.path(in: environment.machinesRoot) + "/" + working.rawValue
            let vm = try await fs.openDirectory(working, in: directory)
            environment.note(.machineStarted(path))
            let log = try? await fs.openFile("build.log", in: vm, options: [.create, .write])
            do {
                try await environment.clock.sleep(seconds: configuration.buildSeconds)
            } catch {
                if let log { await fs.close(log) }
                await fs.close(vm)
                throw error
            }
            if let log {
                try? await fs.write(Array("built\n".utf8), to: log)
                await fs.close(log)
            }
            await fs.close(vm)
            environment.note(.machineStopped(path))
            try await fs.deleteSubvolume(working, in: directory)
            built = true
        } catch let error as FSError {
            environment.note(.note("build on \(machine) failed: \(error)"))
        }
        await lock.release(in: directory, on: fs)
        await fs.close(directory)
        return built
    }
}
