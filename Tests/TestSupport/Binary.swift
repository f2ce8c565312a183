import Foundation

/// Runs the built `buildos-clean` binary, as an operator or Build OS would.
public enum Binary {
    public struct Result: Sendable {
        public var status: Int32
        public var standardOutput: String
        public var standardError: String

        public var outputLines: [String] {
            standardOutput.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).dropLast(
                standardOutput.hasSuffix("\n") ? 1 : 0)
        }
    }

    /// The binary next to the test bundle (SwiftPM builds it for the
    /// end-to-end tests), or the one `BUILDOS_CLEAN_BINARY` names.
    public static var path: String {
        if let path = ProcessInfo.processInfo.environment["BUILDOS_CLEAN_BINARY"] { return path }
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return bundle.appendingPathComponent("buildos-clean").path
    }

    /// Runs the binary with arguments and optional standard input.
    public static func run(_ arguments: [String], input: String? = nil, environment: [String: String] = [:]) throws
        -> Result
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        var merged = ProcessInfo.processInfo.environment
        merged.merge(environment) { $1 }
        process.environment = merged
        let output = Pipe()
        let error = Pipe()
        process.standardOutput = output
        process.standardError = error
        let stdin = Pipe()
        process.standardInput = stdin
        try process.run()
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try? stdin.fileHandleForWriting.close()
        // Read both pipes to their end before waiting, so neither fills up.
        let group = DispatchGroup()
        nonisolated(unsafe) var errorData = Data()
        group.enter()
        DispatchQueue.global().async {
            errorData = error.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, standardOutput: String(decoding: outputData, as: UTF8.self),
            standardError: String(decoding: errorData, as: UTF8.self))
    }

    /// The package's root directory (for shipped layouts and scenarios).
    public static func packageRoot(file: String = #filePath) -> String {
        var url = URL(fileURLWithPath: file)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
                return url.path
            }
        }
        return FileManager.default.currentDirectoryPath
    }
}

/// Compares text with a snapshot file under a test target's `Snapshots/`;
/// `UPDATE_SNAPSHOTS=1` rewrites the file instead.
public enum Snapshot {
    /// The snapshot's text, or nil when it was (re)written.
    public static func expected(_ name: String, actual: String, file: String = #filePath) -> String? {
        let directory = URL(fileURLWithPath: file).deletingLastPathComponent().appendingPathComponent("Snapshots")
        let url = directory.appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["UPDATE_SNAPSHOTS"] == "1" {
            try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try? actual.write(to: url, atomically: true, encoding: .utf8)
            return nil
        }
        return (try? String(contentsOf: url, encoding: .utf8)) ?? "(missing snapshot \(name))"
    }
}
