import FSProtocol
import RealFS

/// The real backend as tests make it.
public enum RealFileSystemForTests {
    public static func make() -> any FileSystem { RealFileSystem() }

    public static func make(as credentials: Credentials) -> any FileSystem {
        RealFileSystem(runningAs: credentials)
    }
}

/// Whether the real-backend tests run here: where they cannot, they are
/// skipped with the reason, unless CI requires them (then they fail).
public let realBackendRuns = RealBackendAvailability.problem == nil || RealBackendAvailability.isRequired

/// Fails the test when the real backend was required but is missing.
public func requireRealBackend(file: String = #fileID, function: String = #function) throws {
    if let problem = RealBackendAvailability.problem {
        throw RealBackend.Unavailable(description: "real backend unavailable: \(problem)")
    }
    RealBackendCount.record(file: file, function: function)
}
