import Foundation
import Testing
import TestSupport

/// What the input tests share: files in a scratch directory, a run that
/// cannot hang, and the shape of a refusal.
enum InputTest {
    /// How long a run on a malformed input may take before it counts as a
    /// hang: far above the few milliseconds it needs.
    static let timeout = 20.0

    /// A new scratch directory.
    static func directory() throws -> String {
        let path = NSTemporaryDirectory() + "inputs-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Writes bytes to a file in a new scratch directory; its path.
    static func file(_ name: String, _ bytes: [UInt8]) throws -> String {
        let path = try directory() + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func file(_ name: String, _ text: String) throws -> String {
        try file(name, Array(text.utf8))
    }

    /// Runs the binary with the time limit.
    static func run(_ arguments: [String], workingDirectory: String? = nil) throws -> Binary.Result {
        try Binary.run(arguments, workingDirectory: workingDirectory, timeout: timeout)
    }

    /// Checks a refusal: the exit status, `FILE:LINE: ` when the input has
    /// lines, a message naming the problem, no trap, no hang, and no
    /// report on standard output.
    static func expectRefused(
        _ result: Binary.Result, status: Int32 = 64, location: String?, message: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(!result.timedOut, "the run did not finish within \(timeout) s", sourceLocation: sourceLocation)
        #expect(result.status == status, "\(result.standardError)", sourceLocation: sourceLocation)
        if let location {
            #expect(
                result.standardError.contains(location + ": "), "no '\(location): ' in: \(result.standardError)",
                sourceLocation: sourceLocation)
        }
        #expect(
            result.standardError.contains(message), "no '\(message)' in: \(result.standardError)",
            sourceLocation: sourceLocation)
        #expect(!result.standardError.contains("Fatal error"), sourceLocation: sourceLocation)
        #expect(result.standardOutput.isEmpty, "\(result.standardOutput)", sourceLocation: sourceLocation)
    }

    /// Every entry below a real directory, with its kind and link target:
    /// what a run must leave as it found it.
    static func snapshot(of root: String) -> [String] {
        let manager = FileManager.default
        let paths = (manager.enumerator(atPath: root)?.allObjects as? [String]) ?? []
        return paths.sorted().map { path in
            let full = root + "/" + path
            if let target = try? manager.destinationOfSymbolicLink(atPath: full) { return "\(path) -> \(target)" }
            var isDirectory: ObjCBool = false
            _ = manager.fileExists(atPath: full, isDirectory: &isDirectory)
            return isDirectory.boolValue ? path + "/" : path
        }
    }

    /// A real machines root (plain directories) that a valid cleanup
    /// changes: its stale lock file is removed.
    static func realRoot() throws -> String {
        let root = try directory() + "/machines"
        try FileManager.default.createDirectory(atPath: root + "/v/m/m-1", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: root + "/v/m/m", withDestinationPath: "m-1")
        try Data().write(to: URL(fileURLWithPath: root + "/v/m/m-default.lock"))
        return root
    }
}

/// One malformed input of a table: its name, its bytes, the line the
/// message must name, and what the message must say.
struct InputCase: Sendable, CustomTestStringConvertible {
    var name: String
    var bytes: [UInt8]
    var line: Int
    var message: String
    var testDescription: String { name }

    init(_ name: String, _ text: String, line: Int = 1, _ message: String) {
        self.init(name, Array(text.utf8), line: line, message)
    }

    init(_ name: String, bytes: [UInt8], line: Int = 1, _ message: String) {
        self.init(name, bytes, line: line, message)
    }

    init(_ name: String, _ bytes: [UInt8], line: Int = 1, _ message: String) {
        self.name = name
        self.bytes = bytes
        self.line = line
        self.message = message
    }
}
