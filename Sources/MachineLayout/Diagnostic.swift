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

    /// The line as printed and mailed: one line whatever the names hold,
    /// a control character in a name or link target written as `\n`,
    /// `\t`, `\r` or `\xNN` (the JSON document keeps the exact text).
    public var line: String {
        let base = "\(path): \(level.rawValue): \(message)"
        return Diagnostic.escapingControlCharacters(cause.map { base + ": " + $0 } ?? base)
    }

    /// `text` with each control byte (below 0x20, and 0x7F) escaped.
    public static func escapingControlCharacters(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { return text }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count + 8)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\n"): bytes += Array("\\n".utf8)
            case UInt8(ascii: "\t"): bytes += Array("\\t".utf8)
            case UInt8(ascii: "\r"): bytes += Array("\\r".utf8)
            case 0..<0x20, 0x7F:
                let hex = Array("0123456789abcdef".utf8)
                bytes += [UInt8(ascii: "\\"), UInt8(ascii: "x"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            default: bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    public var description: String { line }
}
