import FSProtocol
import Foundation

/// Whether the real backend can run here, and why not.
///
/// The real backend needs root and a btrfs mount named by
/// `BUILDOS_CLEAN_TEST_BTRFS` (mounted with `user_subvol_rm_allowed`, as
/// `.ci/run` does). Without them its tests are skipped with the reason on
/// standard error, unless `BUILDOS_CLEAN_REQUIRE_REAL_BACKEND=1` (set by CI)
/// makes a missing real backend a failure.
public enum RealBackendAvailability {
    public static let mountVariable = "BUILDOS_CLEAN_TEST_BTRFS"
    public static let requireVariable = "BUILDOS_CLEAN_REQUIRE_REAL_BACKEND"

    /// nil when the real backend can run, else why not.
    public static let problem: String? = {
        let environment = ProcessInfo.processInfo.environment
        guard let mount = environment[mountVariable], !mount.isEmpty else {
            return "\(mountVariable) is not set (a btrfs mount point for the real-backend tests)"
        }
        guard geteuid() == 0 else { return "the real-backend tests need root" }
        guard let type = try? Shell.run(["stat", "-f", "-c", "%T", mount]) else {
            return "\(mountVariable)=\(mount) cannot be read"
        }
        guard type.trimmingCharacters(in: .whitespacesAndNewlines) == "btrfs" else {
            return "\(mountVariable)=\(mount) is not on btrfs"
        }
        return nil
    }()

    /// Whether CI demands the real backend.
    public static let isRequired = ProcessInfo.processInfo.environment[requireVariable] == "1"

    /// The real backend when it can run, or when it must (so that its
    /// tests fail with the reason); else none, after a note on why.
    public static let backends: [any ConformanceBackend] = {
        if problem == nil || isRequired { return [RealBackend(problem: problem)] }
        FileHandle.standardError.write(Data("note: real-backend tests skipped: \(problem ?? "")\n".utf8))
        return []
    }()

    /// The btrfs mount the real backend works in.
    public static var mountPoint: String {
        ProcessInfo.processInfo.environment[mountVariable] ?? "/nonexistent"
    }
}
