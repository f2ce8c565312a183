import Foundation

/// Runs the built `buildos-clean` binary, as an operator or Build OS would.
public enum Binary {
    public struct Result: Sendable {
        public var status: Int32
        public var standardOutput: String
        public var standardError: String
        /// The run passed its time limit and the binary was killed.
        public var timedOut = false

        public var outputLines: [String] {
            standardOutput.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).dropLast(
                standardOutput.hasSuffix("\n") ? 1 : 0)
        }
    }

    /// The two executables: what ships, and the developers' one with the
    /// simulation commands besides.
    public enum Executable: Sendable {
        case production, developer
        /// Another program, at its path (a tool that runs the binary, such
        /// as script(1) for a terminal).
        case program(String)

        /// The executable that has a command line's first command: the
        /// simulation and fuzzing commands, and simulated trees
        /// (`--layout`), exist only in the developers' binary; every other
        /// run tests what ships.
        public static func running(_ arguments: [String]) -> Executable {
            ["scenario", "fuzz"].contains(arguments.first ?? "")
                || arguments.contains { $0 == "--layout" || $0.hasPrefix("--layout=") } ? .developer : .production
        }
    }

    /// The production binary next to the test bundle (SwiftPM builds it
    /// for the end-to-end tests), or the one `BUILDOS_CLEAN_BINARY` names.
    public static var path: String { path(of: .production) }

    /// An executable next to the test bundle, or the one
    /// `BUILDOS_CLEAN_BINARY` (production) or `BUILDOS_CLEAN_DEV_BINARY`
    /// (developer) names.
    public static func path(of executable: Executable) -> String {
        if case .program(let path) = executable { return path }
        let (variable, name) =
            switch executable {
            case .production, .program: ("BUILDOS_CLEAN_BINARY", "buildos-clean")
            case .developer: ("BUILDOS_CLEAN_DEV_BINARY", "buildos-clean-dev")
            }
        if let path = ProcessInfo.processInfo.environment[variable] { return path }
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return bundle.appendingPathComponent(name).path
    }

    /// Runs the binary with arguments and optional standard input. Past
    /// `timeout` seconds the binary is killed and the result says so
    /// (`timedOut`), rather than the test hanging: a run counts as over
    /// when the binary has exited and both its output pipes are at their
    /// end (a child it left holding them keeps the run going).
    /// The executable is the production one unless the command is a
    /// developer's (`Executable.running`).
    public static func run(
        _ arguments: [String], input: String? = nil, environment: [String: String] = [:],
        workingDirectory: String? = nil, timeout: Double = 300, executable: Executable? = nil
    ) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path(of: executable ?? .running(arguments)))
        process.arguments = arguments
        var merged = ProcessInfo.processInfo.environment
        merged.merge(environment) { $1 }
        process.environment = merged
        if let workingDirectory { process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory) }
        let output = Pipe()
        let error = Pipe()
        process.standardOutput = output
        process.standardError = error
        let stdin = Pipe()
        process.standardInput = stdin
        try process.run()
        if let input { try? stdin.fileHandleForWriting.write(contentsOf: Data(input.utf8)) }
        try? stdin.fileHandleForWriting.close()
        // Read both pipes in one poll loop, so neither fills up and a
        // deadline applies to the whole run.
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        var streams = [
            (fd: output.fileHandleForReading.fileDescriptor, data: Data(), open: true),
            (fd: error.fileHandleForReading.fileDescriptor, data: Data(), open: true),
        ]
        var timedOut = false
        var buffer = [UInt8](repeating: 0, count: 65536)
        while streams.contains(where: \.open) {
            let left = deadline - ContinuousClock.now
            if left <= .zero {
                timedOut = true
                break
            }
            var fds = streams.filter(\.open).map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            let milliseconds = Int32(min(left.components.seconds * 1000 + 1, 1000))
            if poll(&fds, nfds_t(fds.count), milliseconds) < 0, errno != EINTR { break }
            for polled in fds where polled.revents != 0 {
                guard let index = streams.firstIndex(where: { $0.fd == polled.fd }) else { continue }
                let count = buffer.withUnsafeMutableBytes { read(polled.fd, $0.baseAddress, $0.count) }
                if count > 0 {
                    streams[index].data.append(contentsOf: buffer[0..<count])
                } else if count == 0 || errno != EINTR {
                    streams[index].open = false
                }
            }
        }
        if timedOut, process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, standardOutput: String(decoding: streams[0].data, as: UTF8.self),
            standardError: String(decoding: streams[1].data, as: UTF8.self), timedOut: timedOut)
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
