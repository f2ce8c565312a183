/// One line of the cleanup's report, in the original's form
/// `path: level: message`, with a cause appended where one is known.
public struct Diagnostic: Hashable, Sendable, CustomStringConvertible {
    public enum Level: String, Hashable, Sendable, Codable {
        case info, warning, error
    }

    public var path: String
    public var level: Level
    public var message: String
    public var cause: String?

    public init(path: String, level: Level, message: String, cause: String? = nil) {
        self.path = path
        self.level = level
        self.message = message
        self.cause = cause
    }

    /// The line as printed and mailed.
    public var line: String {
        let base = "\(path): \(level.rawValue): \(message)"
        guard let cause else { return base }
        return base + ": " + cause
    }

    public var description: String { line }
}
