import FSProtocol

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

/// buildos-clean's own lock: one change at a time on a machines root.
///
/// The cleanup and the administration commands take it (dry runs and
/// `machine list` do not): `flock` on `ROOT/.buildos-clean.lock`, a file
/// that is never removed (so no taker can lock a file that a releaser is
/// unlinking). A second run waits for it up to its `--wait`, then gives
/// up with exit status 75.
public struct ToolLock: Sendable {
    /// The lock file's name in the machines root; the cleanup keeps it
    /// silently.
    public static let fileName: EntryName = ".buildos-clean.lock"

    let file: FileHandle
    let fileSystem: any FileSystem

    /// Why the lock was not taken.
    public enum Failure: Error, Hashable, Sendable {
        /// Another run holds it, still after `waited` seconds.
        case busy(waited: Double)
        /// The lock file cannot be opened or locked.
        case failed(FSError)
    }

    /// Takes the lock in the open machines root, waiting up to `wait`
    /// seconds (polling every `interval`); `progress` hears how long it has
    /// waited so far, once a second.
    public static func take(
        in root: DirectoryHandle, on fileSystem: any FileSystem, wait: Double, clock: any WaitingClock,
        interval: Double = 0.1, progress: (Double) -> Void = { _ in }
    ) async -> Result<ToolLock, Failure> {
        let file: FileHandle
        do throws(FSError) {
            file = try await fileSystem.openFile(fileName, in: root, options: [.write, .create])
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

    /// Releases the lock.
    public func release() async {
        await fileSystem.close(file)
    }
}
