/// One name inside a directory, never a path.
///
/// Every protocol operation addresses an entry as an open directory plus one
/// `EntryName`, so no operation can be handed a string that crosses a
/// symbolic link on the way. A name is never empty, never `.` or `..`, and
/// never holds `/` or NUL.
///
/// Names compare in byte order of their UTF-8 encoding, the order in which
/// the original shell globs listed them in the C locale.
public struct EntryName: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The name as text.
    public let rawValue: String

    /// False when the name on disk is not valid UTF-8: `rawValue` then holds
    /// a readable rendering (invalid bytes as `\xNN`), and every operation
    /// refuses the name with `invalidArgument` rather than touch a
    /// different entry.
    public let isExact: Bool

    /// A name, or nil when `rawValue` is not a single valid name.
    public init?(_ rawValue: String) {
        guard EntryName.isValid(rawValue) else { return nil }
        self.rawValue = rawValue
        self.isExact = true
    }

    /// A name read from disk whose bytes are not valid UTF-8.
    public init(undecodable rendering: String) {
        self.rawValue = rendering
        self.isExact = false
    }

    /// Whether `text` is a single name: not empty, not `.` or `..`, no `/`
    /// or NUL.
    public static func isValid(_ text: String) -> Bool {
        if text.isEmpty || text == "." || text == ".." { return false }
        return !text.utf8.contains(where: { $0 == UInt8(ascii: "/") || $0 == 0 })
    }

    public var description: String { rawValue }

    public static func < (lhs: EntryName, rhs: EntryName) -> Bool {
        let fast = lhs.rawValue.utf8.withContiguousStorageIfAvailable { left in
            rhs.rawValue.utf8.withContiguousStorageIfAvailable { right in
                EntryName.bytesPrecede(left, right)
            }
        }
        return (fast ?? nil) ?? lhs.rawValue.utf8.lexicographicallyPrecedes(rhs.rawValue.utf8)
    }

    /// Byte order of two contiguous names, the comparison behind every
    /// sorted listing.
    @inline(__always)
    static func bytesPrecede(_ left: UnsafeBufferPointer<UInt8>, _ right: UnsafeBufferPointer<UInt8>) -> Bool {
        let count = Swift.min(left.count, right.count)
        var index = 0
        while index < count {
            let (a, b) = (left[index], right[index])
            if a != b { return a < b }
            index += 1
        }
        return left.count < right.count
    }
}

extension EntryName {
    /// The components of a path, split at its `/` bytes as the kernel
    /// splits it, without empty ones. (Not at `/` characters: a `/`
    /// followed by a combining mark is one `Character` but still a
    /// separator; and splitting bytes is many times faster.)
    public static func components(of path: String) -> [Substring] {
        path.utf8.split(separator: UInt8(ascii: "/")).map { Substring($0) }
    }
}

extension EntryName: ExpressibleByStringLiteral {
    /// A name written in the source; an invalid literal is a programming
    /// error.
    public init(stringLiteral value: String) {
        guard let name = EntryName(value) else {
            preconditionFailure("not a single entry name: \(value)")
        }
        self = name
    }
}

extension EntryName: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let name = EntryName(text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "not a single entry name: \(text)"))
        }
        self = name
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
