import Foundation

/// Runs the system tools the real test fixtures need (mkfs.btrfs, losetup,
/// mount, btrfs send/receive). Never used by the code under test.
public enum Shell {
    public struct Failure: Error, CustomStringConvertible {
        public var command: [String]
        public var status: Int32
        public var output: String
        public var description: String { "\(command.joined(separator: " ")) failed (\(status)): \(output)" }
    }

    /// Runs a command, returns its standard output; a non-zero status
    /// throws with its output.
    @discardableResult
    public static func run(_ arguments: [String], allowFailure: Bool = false) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        if process.terminationStatus != 0, !allowFailure {
            throw Failure(command: arguments, status: process.terminationStatus, output: text)
        }
        return text
    }

    /// Makes a read-only subvolume as `btrfs receive` leaves it (with a
    /// received UUID) at an absolute path: a source made in a scratch
    /// directory on the test mount is sent and received there.
    public static func receive(at target: String) throws {
        let url = URL(fileURLWithPath: target)
        let name = url.lastPathComponent
        let work = RealBackendAvailability.mountPoint + "/.send-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: false)
        defer {
            _ = try? run(["btrfs", "-q", "subvolume", "delete", work + "/" + name], allowFailure: true)
            try? FileManager.default.removeItem(atPath: work)
        }
        try run(["btrfs", "-q", "subvolume", "create", work + "/" + name])
        try sh("echo image > '\(work)/\(name)/disk.img'")
        try run(["btrfs", "property", "set", "-ts", work + "/" + name, "ro", "true"])
        try sh("btrfs send -q '\(work)/\(name)' | btrfs receive -q '\(url.deletingLastPathComponent().path)'")
    }

    /// Runs a shell pipeline.
    @discardableResult
    public static func sh(_ script: String) throws -> String {
        try run(["sh", "-c", script])
    }
}
