import FSProtocol
import MachineLayout

/// How a command waits: real time on a host, virtual time in a simulation.
public protocol WaitingClock: Sendable {
    /// Seconds since some fixed moment.
    func now() async -> Double
    /// Waits `seconds`; throws when the waiter must stop instead (in a
    /// simulation: its process was killed).
    func sleep(seconds: Double) async throws
}

/// The clock of a real host.
public struct HostClock: WaitingClock {
    public init() {}

    public func now() async -> Double {
        let elapsed = ContinuousClock.now - HostClock.start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    public func sleep(seconds: Double) async throws {
        try await Task.sleep(for: .milliseconds(Int64((seconds * 1000).rounded())))
    }

    private static let start = ContinuousClock.now
}

/// buildos-clean's own lock: one change at a time on a host.
///
/// The cleanup and the administration commands take it (dry runs and
/// `machine list` do not): `flock` on `/run/lock/buildos-clean.lock` (in
/// `/run` on a host without `/run/lock`), a
/// file that is never removed (so no taker can lock a file that a releaser
/// is unlinking), and that lives outside the machines root, which the
/// lock never changes. A machines root other than `/build/machines` gets
/// a lock of its own (`buildos-clean-HASH.lock`), so that separate trees
/// (tests) do not wait for each other. A second run waits for it up to
/// its `--wait`, then gives up with exit status 75.
public struct ToolLock: Sendable {
    /// Where the lock files live on a host.
    public static let directory = "/run/lock"

    /// The lock file's name for a machines root, from the text of its
    /// path alone: for a root that cannot be opened (see
    /// `fileName(for:on:)`).
    public static func fileName(for root: String) -> EntryName {
        let trimmed = EntryPath.trimmingTrailingSlashes(root)
        if trimmed == "/build/machines" { return "buildos-clean.lock" }
        return hashedName(trimmed)
    }

    /// The lock file's name for the machines root `root` as it is on the
    /// host: one name per directory, however its path is spelt (through
    /// a symbolic link, with `//`, a bind mount), so that two runs on one
    /// tree always take one lock. The directory that `/build/machines`
    /// names gets `buildos-clean.lock`, whatever path reaches it; another
    /// gets a name from its device and inode numbers.
    public static func fileName(for root: String, on fileSystem: any FileSystem) async -> EntryName {
        func identity(_ path: String) async -> FileIdentity? {
            try? await fileSystem.withRoot(path) { directory throws(FSError) in
                try await fileSystem.status(of: directory).identity
            }
        }
        guard let rootIdentity = await identity(root) else { return fileName(for: root) }
        if let standard = await identity(Layout.defaultRoot), standard == rootIdentity { return "buildos-clean.lock" }
        return hashedName("\(rootIdentity.device):\(rootIdentity.inode)")
    }

    static func hashedName(_ key: String) -> EntryName {
        let hex = String(MachineNaming.stableHash(key), radix: 16)
        return EntryName("buildos-clean-" + String(repeating: "0", count: 16 - hex.count) + hex + ".lock")
            ?? "buildos-clean.lock"
    }

    let file: FileHandle
    let fileSystem: any FileSystem

    /// Why the lock was not taken.
    public enum Failure: Error, Hashable, Sendable {
        /// Another run holds it, still after `waited` seconds.
        case busy(waited: Double)
        /// The lock file cannot be opened or locked.
        case failed(FSError)
    }

    /// Takes the lock of the machines root `root` in the lock directory,
    /// waiting up to `wait` seconds (polling every `interval`); `progress`
    /// hears how long it has waited so far, once a second.
    public static func take(
        for root: String, in directory: String = ToolLock.directory, on fileSystem: any FileSystem, wait: Double,
        clock: any WaitingClock, interval: Double = 0.1, progress: (Double) -> Void = { _ in }
    ) async -> Result<ToolLock, Failure> {
        let file: FileHandle
        do throws(FSError) {
            file = try await openLockFile(await fileName(for: root, on: fileSystem), in: directory, on: fileSystem)
        } catch {
            return .failure(.failed(error))
        }
        let start = await clock.now()
        var reported = 0
        while true {
            do throws(FSError) {
                if try await fileSystem.tryLock(file) { return .success(ToolLock(file: file, fileSystem: fileSystem)) }
            } catch {
                await fileSystem.close(file)
                return .failure(.failed(error))
            }
            let waited = await clock.now() - start
            if waited >= wait {
                await fileSystem.close(file)
                return .failure(.busy(waited: waited))
            }
            if Int(waited) > reported {
                reported = Int(waited)
                progress(waited)
            }
            do {
                try await clock.sleep(seconds: min(interval, wait - waited))
            } catch {
                await fileSystem.close(file)
                return .failure(.busy(waited: waited))
            }
        }
    }

    /// The lock file, created when missing. A host without `/run/lock`
    /// (a bare container) takes it in `/run`, the directory `/run/lock`
    /// lives in: every run on the host decides alike, and a boot cleanup
    /// never halts the host for want of a lock directory.
    static func openLockFile(_ name: EntryName, in directory: String, on fileSystem: any FileSystem)
        async throws(FSError) -> FileHandle
    {
        do throws(FSError) {
            return try await fileSystem.withRoot(directory) { locks throws(FSError) in
                try await fileSystem.openFile(name, in: locks, options: [.write, .create])
            }
        } catch where error.kind == .noEntry && directory == ToolLock.directory {
            return try await fileSystem.withRoot("/run") { locks throws(FSError) in
                try await fileSystem.openFile(name, in: locks, options: [.write, .create])
            }
        }
    }

    /// Releases the lock.
    public func release() async {
        await fileSystem.close(file)
    }
}
