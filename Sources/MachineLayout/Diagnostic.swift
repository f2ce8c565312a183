import FSProtocol

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

    /// The line as printed and mailed: one line whatever the names hold
    /// (`escapingControlCharacters`; the JSON document's `path` keeps the
    /// exact text).
    public var line: String {
        let base = "\(path): \(level.rawValue): \(message)"
        return Diagnostic.escapingControlCharacters(cause.map { base + ": " + $0 } ?? base)
    }

    /// `text` with what could break a line written out: a control
    /// character (below U+0020, U+007F) as `\n`, `\t`, `\r` or `\xNN`, a C1
    /// control (U+0080 to U+009F) or a line or paragraph separator (U+2028,
    /// U+2029) as `\u{NNNN}`. A backslash stays as it is (a name that is
    /// not UTF-8 is already rendered `\xNN`), so the text is safe to read by
    /// lines, not a reversible encoding: the JSON documents are that.
    public static func escapingControlCharacters(_ text: String) -> String {
        func breaks(_ scalar: Unicode.Scalar) -> Bool {
            scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
        }
        // Printable ASCII, most lines, is seen on the bytes.
        if EntryName.withBytes(of: text, { bytes in bytes.allSatisfy { $0 >= 0x20 && $0 < 0x7F } }) { return text }
        guard text.unicodeScalars.contains(where: breaks) else { return text }
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars {
            guard breaks(scalar) else {
                escaped.unicodeScalars.append(scalar)
                continue
            }
            switch scalar {
            case "\n": escaped += "\\n"
            case "\t": escaped += "\\t"
            case "\r": escaped += "\\r"
            default:
                escaped +=
                    scalar.value <= 0x7F
                    ? EntryName.hexEscape(UInt8(scalar.value)) : "\\u{" + String(scalar.value, radix: 16) + "}"
            }
        }
        return escaped
    }

    public var description: String { line }
}
