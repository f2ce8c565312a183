import FSProtocol

/// A filesystem backend the conformance suite runs on: the simulated one
/// always, the real one where a btrfs mount and root are at hand.
public protocol ConformanceBackend: Sendable, CustomStringConvertible {
    /// A fresh, empty directory on a btrfs filesystem, owned by root with
    /// mode 0755.
    func makeSandbox(_ options: SandboxOptions) async throws -> any Sandbox
}

/// How a sandbox's filesystem is mounted and what it must support.
public struct SandboxOptions: Hashable, Sendable {
    /// Mount option `user_subvol_rm_allowed` (Build OS sets it).
    public var userSubvolumeRemovalAllowed = true
    /// The sandbox must be able to crash (a filesystem of its own).
    public var crashable = false

    public init(userSubvolumeRemovalAllowed: Bool = true, crashable: Bool = false) {
        self.userSubvolumeRemovalAllowed = userSubvolumeRemovalAllowed
        self.crashable = crashable
    }

    public static let standard = SandboxOptions()
}

/// A directory to run one test in, with the processes and the powers a
/// test needs beyond the protocol.
public protocol Sandbox: Sendable {
    /// The absolute path of the sandbox directory.
    var path: String { get }
    /// A process running as root.
    var root: any FileSystem { get }
    /// A process running as an unprivileged user.
    func user(_ uid: UInt32, group: UInt32) async throws -> any FileSystem
    /// Starts another process, running as `uid` and doing nothing, until
    /// `stopProcess`: its process id.
    func startProcess(as uid: UInt32) async throws -> Int32
    /// Ends a process `startProcess` started (and reaps it).
    func stopProcess(_ pid: Int32) async
    /// Mounts a tmpfs on the directory at `relativePath`.
    func mountTmpfs(at relativePath: String) async throws
    /// Unmounts what `mountTmpfs` mounted (a no-op when it is gone).
    func unmount(_ relativePath: String) async throws
    /// Makes the subvolume at `relativePath` the filesystem's default.
    func setDefaultSubvolume(_ relativePath: String) async throws
    /// Creates a read-only subvolume as `btrfs receive` leaves it (with a
    /// received UUID) at `relativePath`.
    func receiveSubvolume(at relativePath: String) async throws
    /// Makes a plain directory in the sandbox whose name is `bytes`, which
    /// need not be UTF-8.
    func makeDirectory(named bytes: [UInt8]) async throws
    /// Creates a subvolume in the sandbox's directory `relativeDirectory`
    /// whose name is `bytes`, which need not be UTF-8.
    func makeSubvolume(named bytes: [UInt8], in relativeDirectory: String) async throws
    /// Makes a symbolic link in the sandbox whose name and target are
    /// bytes, either of which need not be UTF-8 (not both at once).
    func makeSymlink(named bytes: [UInt8], target: [UInt8]) async throws
    /// Sets the permission bits of the entry at `relativePath` (chmod, as
    /// an administrator would; the protocol has no such call).
    func setPermissions(_ relativePath: String, _ permissions: UInt16) async throws
    /// Makes a FIFO (a named pipe) at `relativePath` in the sandbox.
    func makeFifo(_ relativePath: String) async throws
    /// `btrfs subvolume snapshot SOURCE DEST` as an agent that shells out
    /// runs it, in the sandbox: the real command on the real backend, the
    /// model of it (`ShellTools.snapshot`) on the simulated one.
    func shellSnapshot(_ source: String, _ destination: String) async throws

    /// Crashes the host and brings the sandbox's filesystem back as the
    /// disk holds it; `root` then is a process of the rebooted host.
    func crash() async throws
    /// Releases whatever the sandbox holds.
    func tearDown() async
}

extension Sandbox {
    /// A name as the backends render it when it is not UTF-8: printable
    /// ASCII as it is, any other byte as `\xNN`.
    public static func rendering(of bytes: [UInt8]) -> String {
        bytes.map { byte in
            if byte >= 0x20, byte < 0x7f { return String(UnicodeScalar(byte)) }
            let hex = String(byte, radix: 16)
            return "\\x" + (hex.count == 1 ? "0" + hex : hex)
        }.joined()
    }

    /// Opens the sandbox directory as `process`.
    public func open(as process: any FileSystem) async throws -> DirectoryHandle {
        try await process.openRoot(path)
    }

    /// Opens the sandbox directory as root.
    public func open() async throws -> DirectoryHandle {
        try await open(as: root)
    }
}

/// The user id unprivileged tests run as (Build OS's `build`).
public let unprivilegedUser: UInt32 = 1000
