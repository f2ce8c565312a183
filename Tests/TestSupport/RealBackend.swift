import FSProtocol
import Foundation
import RealFS

/// The conformance suite on the real backend: each sandbox a fresh
/// directory on the btrfs mount of `BUILDOS_CLEAN_TEST_BTRFS`, or, when the
/// test needs its own mount options or a crash, a fresh loop-mounted btrfs.
public struct RealBackend: ConformanceBackend {
    /// Why the backend cannot run here (its sandboxes then fail to build).
    let problem: String?

    public var description: String { "real" }

    public struct Unavailable: Error, CustomStringConvertible {
        public var description: String
    }

    public func makeSandbox(_ options: SandboxOptions) async throws -> any Sandbox {
        if let problem { throw Unavailable(description: "real backend unavailable: \(problem)") }
        let name = Sandboxes.uniqueName()
        if options.crashable || !options.userSubvolumeRemovalAllowed {
            let filesystem = try LoopFilesystem(
                name: name, userSubvolumeRemovalAllowed: options.userSubvolumeRemovalAllowed)
            return RealSandbox(path: filesystem.mountPoint, loop: filesystem)
        }
        let path = RealBackendAvailability.mountPoint + "/" + name
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        return RealSandbox(path: path, loop: nil)
    }
}

enum Sandboxes {
    nonisolated(unsafe) static var counter = 0
    static let lock = NSLock()

    static func uniqueName() -> String {
        lock.lock()
        defer { lock.unlock() }
        counter += 1
        return "sandbox-\(getpid())-\(counter)"
    }
}

/// A small btrfs of its own on a loop device: its image file lives on the
/// test mount, its mount point in /tmp.
public final class LoopFilesystem: @unchecked Sendable {
    public let image: String
    public let mountPoint: String
    let options: String
    var device: String

    public init(name: String, userSubvolumeRemovalAllowed: Bool) throws {
        image = RealBackendAvailability.mountPoint + "/\(name).img"
        mountPoint = "/tmp/buildos-clean-tests/\(name)"
        // A long commit interval: only syncs and snapshots commit, as a
        // crash test needs.
        options = "commit=300" + (userSubvolumeRemovalAllowed ? ",user_subvol_rm_allowed" : "")
        try Shell.run(["truncate", "-s", "256M", image])
        try Shell.run(["mkfs.btrfs", "-q", image])
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        device = try Shell.run(["losetup", "--find", "--show", image]).trimmingCharacters(in: .whitespacesAndNewlines)
        try Shell.run(["mount", "-o", options, device, mountPoint])
    }

    /// A crash: the disk as it is now comes back without what the page
    /// cache and the running transaction held. The image is copied while
    /// mounted (what is on disk), the original unmounted and dropped, and
    /// the copy mounted in its place.
    public func crash() throws {
        let copy = image + ".crash"
        try Shell.run(["cp", "--sparse=always", image, copy])
        try Shell.run(["umount", "-l", mountPoint])
        try Shell.run(["losetup", "-d", device])
        try Shell.run(["mv", copy, image])
        device = try Shell.run(["losetup", "--find", "--show", image]).trimmingCharacters(in: .whitespacesAndNewlines)
        try Shell.run(["mount", "-o", options, device, mountPoint])
    }

    public func tearDown() {
        _ = try? Shell.run(["umount", "-l", mountPoint], allowFailure: true)
        _ = try? Shell.run(["losetup", "-d", device], allowFailure: true)
        try? FileManager.default.removeItem(atPath: image)
        try? FileManager.default.removeItem(atPath: mountPoint)
    }
}

final class RealSandbox: Sandbox, @unchecked Sendable {
    let path: String
    let loop: LoopFilesystem?
    let root: any FileSystem = RealFileSystem()
    var mounts: [String] = []
    var changedDefault = false

    init(path: String, loop: LoopFilesystem?) {
        self.path = path
        self.loop = loop
    }

    func user(_ uid: UInt32, group: UInt32) async throws -> any FileSystem {
        RealFileSystem(runningAs: Credentials(user: uid, group: group))
    }

    private var started: [Int32: Process] = [:]

    func startProcess(as uid: UInt32) async throws -> Int32 {
        let process = Process()
        // setpriv (util-linux) takes on the user, then becomes `sleep`.
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments = ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "/bin/sleep", "600"]
        try process.run()
        let pid = process.processIdentifier
        started[pid] = process
        // Until setpriv has taken on the user, the process is root's.
        for _ in 0..<200 {
            let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
            if status.split(separator: "\n").contains(where: { $0.hasPrefix("Uid:\t\(uid)\t") }) { return pid }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw RealBackend.Unavailable(description: "process \(pid) did not take on user \(uid)")
    }

    func stopProcess(_ pid: Int32) async {
        guard let process = started.removeValue(forKey: pid) else { return }
        // SIGKILL: a test runner may block SIGTERM, and its children
        // inherit the mask.
        kill(pid, SIGKILL)
        process.waitUntilExit()
    }

    func mountTmpfs(at relativePath: String) async throws {
        let target = path + "/" + relativePath
        try Shell.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", target])
        mounts.append(target)
    }

    func unmount(_ relativePath: String) async throws {
        Shell.unmountQuietly(path + "/" + relativePath)
    }

    func setDefaultSubvolume(_ relativePath: String) async throws {
        try Shell.run(["btrfs", "subvolume", "set-default", path + "/" + relativePath])
        changedDefault = true
    }

    func receiveSubvolume(at relativePath: String) async throws {
        try Shell.receive(at: path + "/" + relativePath)
    }

    func shellSnapshot(_ source: String, _ destination: String) async throws {
        try Shell.run(["btrfs", "-q", "subvolume", "snapshot", path + "/" + source, path + "/" + destination])
    }

    /// Bytes as a shell word that `printf '%b'` turns back into them.
    static func printfBytes(_ bytes: [UInt8]) -> String {
        "\"$(printf '%b' '" + bytes.map { "\\0" + String($0, radix: 8) }.joined() + "')\""
    }

    func makeSubvolume(named bytes: [UInt8], in relativeDirectory: String) async throws {
        let directory = path + "/" + relativeDirectory
        try Shell.sh("cd \(directory) && btrfs -q subvolume create \(Self.printfBytes(bytes))")
    }

    func setPermissions(_ relativePath: String, _ permissions: UInt16) async throws {
        if chmod(path + "/" + relativePath, mode_t(permissions)) != 0 {
            throw RealBackend.Unavailable(description: "chmod failed: errno \(errno)")
        }
    }

    func makeFifo(_ relativePath: String) async throws {
        if mkfifo(path + "/" + relativePath, 0o644) != 0 {
            throw RealBackend.Unavailable(description: "mkfifo failed: errno \(errno)")
        }
    }

    func makeSymlink(named bytes: [UInt8], target: [UInt8]) async throws {
        try Shell.sh("cd \(path) && ln -s \(Self.printfBytes(target)) \(Self.printfBytes(bytes))")
    }

    func makeDirectory(named bytes: [UInt8]) async throws {
        let full = Array((path + "/").utf8) + bytes + [0]
        let result = full.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { mkdir($0.baseAddress!, 0o755) }
        }
        if result != 0 { throw RealBackend.Unavailable(description: "mkdir failed: errno \(errno)") }
    }

    func crash() async throws {
        guard let loop else { throw RealBackend.Unavailable(description: "this sandbox cannot crash") }
        try loop.crash()
    }

    func tearDown() async {
        for pid in Array(started.keys) { await stopProcess(pid) }
        if changedDefault {
            _ = try? Shell.run(["btrfs", "subvolume", "set-default", "5", path], allowFailure: true)
        }
        for mount in mounts.reversed() { Shell.unmountQuietly(mount) }
        if let loop {
            loop.tearDown()
            return
        }
        await TreeRemoval.remove(path, with: RealFileSystem())
        // What the protocol cannot name (a name that is not UTF-8) goes
        // by rm, which follows no link either.
        if FileManager.default.fileExists(atPath: path) {
            _ = try? Shell.run(["rm", "-rf", "--one-file-system", "--", path], allowFailure: true)
        }
    }
}

extension Shell {
    static func unmountQuietly(_ path: String) {
        _ = try? run(["umount", path], allowFailure: true)
    }
}
