#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One name inside a directory, never a path.
///
/// Every protocol operation addresses an entry as an open directory plus one
/// `EntryName`, so no operation can be handed a string that crosses a
/// symbolic link on the way. A name is never empty, never `.` or `..`, and
/// never holds `/` or NUL.
///
/// Names are bytes, as the kernel keeps them: two names are equal when their
/// UTF-8 bytes are (not when Swift's `String` finds them canonically
/// equivalent: "caf\u{e9}" and "cafe\u{301}" are two entries on btrfs), and
/// they compare in byte order, the order in which the original shell globs
/// listed them in the C locale.
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
        // On the bytes: every name the tool reads or builds is checked.
        withBytes(of: text) { bytes in
            let dot = UInt8(ascii: ".")
            switch bytes.count {
            case 0: return false
            case 1 where bytes[0] == dot: return false
            case 2 where bytes[0] == dot && bytes[1] == dot: return false
            default: break
            }
            for byte in bytes where byte == UInt8(ascii: "/") || byte == 0 { return false }
            return true
        }
    }

    public var description: String { rawValue }

    public static func == (lhs: EntryName, rhs: EntryName) -> Bool {
        lhs.isExact == rhs.isExact && EntryName.sameBytes(lhs.rawValue, rhs.rawValue)
    }

    public func hash(into hasher: inout Hasher) {
        EntryName.hashBytes(of: rawValue, into: &hasher)
        hasher.combine(isExact)
    }

    /// Byte order; between an exact name and a rendering of the same
    /// bytes (a name that is not UTF-8, rendered `a\xff`, beside one
    /// spelled so), the exact one first, so that `<` agrees with `==`.
    public static func < (lhs: EntryName, rhs: EntryName) -> Bool {
        if lhs.isExact != rhs.isExact, sameBytes(lhs.rawValue, rhs.rawValue) { return lhs.isExact }
        return precedesInBytes(lhs.rawValue, rhs.rawValue)
    }

    /// Whether `left` comes before `right` in the byte order of their UTF-8
    /// encodings (the C locale's order; `String`'s `<` orders by
    /// normalised scalars).
    public static func precedesInBytes(_ left: String, _ right: String) -> Bool {
        let fast = left.utf8.withContiguousStorageIfAvailable { left in
            right.utf8.withContiguousStorageIfAvailable { right in
                EntryName.bytesPrecede(left, right)
            }
        }
        return (fast ?? nil) ?? left.utf8.lexicographicallyPrecedes(right.utf8)
    }

    /// Byte order of two contiguous names, the comparison behind every
    /// sorted listing.
    @inline(__always)
    static func bytesPrecede(_ left: UnsafeBufferPointer<UInt8>, _ right: UnsafeBufferPointer<UInt8>) -> Bool {
        let count = Swift.min(left.count, right.count)
        if count > 0 {
            let order = memcmp(left.baseAddress!, right.baseAddress!, count)
            if order != 0 { return order < 0 }
        }
        return left.count < right.count
    }
}

extension EntryName {
    /// Whether two texts have the same UTF-8 bytes: how the kernel compares
    /// names and paths (`String`'s `==` compares canonical equivalence).
    @inlinable
    public static func sameBytes(_ left: String, _ right: String) -> Bool {
        let (a, b) = (left.utf8, right.utf8)
        guard a.count == b.count else { return false }
        let fast = a.withContiguousStorageIfAvailable { a in
            b.withContiguousStorageIfAvailable { b in
                a.count == 0 || memcmpEqual(a, b)
            }
        }
        return (fast ?? nil) ?? a.elementsEqual(b)
    }

    @usableFromInline
    static func memcmpEqual(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0
    }

    /// Whether two byte buffers hold the same bytes (`memcmp`: the generic
    /// `elementsEqual` goes byte by byte through an iterator).
    @inlinable
    public static func bytesEqual(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        a.count == b.count && (a.count == 0 || memcmpEqual(a, b))
    }

    /// Feeds a text's UTF-8 bytes to `hasher`, the hash that goes with
    /// `sameBytes` (`String`'s own hash normalises the text first).
    @inlinable
    public static func hashBytes(of text: String, into hasher: inout Hasher) {
        let utf8 = text.utf8
        hasher.combine(utf8.count)
        if utf8.withContiguousStorageIfAvailable({ hasher.combine(bytes: UnsafeRawBufferPointer($0)) }) == nil {
            for byte in utf8 { hasher.combine(byte) }
        }
    }

    /// The components of a path, split at its `/` bytes as the kernel
    /// splits it, without empty ones. (Not at `/` characters: a `/`
    /// followed by a combining mark is one `Character` but still a
    /// separator; and splitting bytes is many times faster.)
    public static func components(of path: String) -> [Substring] {
        // On the contiguous bytes: the generic `split` goes through a
        // closure and an index per byte, and paths are split on every
        // lookup.
        withBytes(of: path) { bytes in
            var parts: [Substring] = []
            var start = 0
            for index in 0..<bytes.count where bytes[index] == UInt8(ascii: "/") {
                if start != index { parts.append(EntryName.bytes(of: path, from: start, to: index)) }
                start = index + 1
            }
            if start != bytes.count { parts.append(EntryName.bytes(of: path, from: start, to: bytes.count)) }
            return parts
        }
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

extension EntryName {
    /// Runs `body` on a text's UTF-8 bytes, contiguous: a native string's
    /// own storage (a bridged one is copied first). What the byte tests
    /// below work on: `String.UTF8View`'s generic algorithms step through
    /// an index per byte.
    @inlinable
    public static func withBytes<R>(of text: String, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        if let result = try text.utf8.withContiguousStorageIfAvailable(body) { return result }
        var copy = text
        return try copy.withUTF8(body)
    }

    /// The name of an entry whose bytes on disk are `bytes`, as both
    /// backends list it: exact when they are valid UTF-8, else a rendering
    /// (printable ASCII as it is, any other byte `\xNN`) that no call
    /// accepts. Nil for bytes that make no name (empty, `.`, `..`, or
    /// holding `/` or NUL).
    public init?(onDisk bytes: some Collection<UInt8>) {
        if let text = String(validating: bytes, as: UTF8.self) {
            self.init(text)
            return
        }
        guard !bytes.contains(UInt8(ascii: "/")), !bytes.contains(0) else { return nil }
        self.init(undecodable: EntryName.rendering(of: bytes))
    }

    /// A `/`-separated path of bytes as the backends write one: each
    /// component that is not UTF-8 rendered as its name would be
    /// (`rendering(of:)`), the others as they are.
    public static func pathRendering(of bytes: some Collection<UInt8>) -> String {
        if let text = String(validating: bytes, as: UTF8.self) { return text }
        return bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).map { component in
            String(validating: component, as: UTF8.self) ?? rendering(of: component)
        }.joined(separator: "/")
    }

    /// Bytes that are not UTF-8 as the backends render them: printable
    /// ASCII as it is, any other byte `\xNN`.
    public static func rendering(of bytes: some Collection<UInt8>) -> String {
        var text = ""
        for byte in bytes {
            if byte >= 0x20, byte < 0x7f {
                text.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                text += hexEscape(byte)
            }
        }
        return text
    }

    /// A byte written `\xNN` (two lowercase hex digits): how a name that
    /// is not UTF-8 is rendered, and how the text output writes a control
    /// character.
    public static func hexEscape(_ byte: UInt8) -> String {
        let hex = String(byte, radix: 16)
        return "\\x" + (hex.count == 1 ? "0" + hex : hex)
    }

    /// The part of `text` between two byte offsets, sharing its storage.
    /// The offsets are at scalar boundaries: callers cut next to an ASCII
    /// byte (a `/`) they found in the bytes.
    @inlinable
    public static func bytes(of text: String, from start: Int, to end: Int) -> Substring {
        let utf8 = text.utf8
        let from = utf8.index(utf8.startIndex, offsetBy: start)
        return Substring(utf8[from..<utf8.index(from, offsetBy: end - start)])
    }
}

extension String {
    // The byte tests of `StringProtocol` below, on a `String`'s contiguous
    // bytes: the paths of every lookup go through them.

    /// Whether the text's UTF-8 bytes start with those of `prefix`.
    @inlinable
    public func startsWithBytes(_ prefix: String) -> Bool {
        EntryName.withBytes(of: self) { text in
            EntryName.withBytes(of: prefix) { prefix in
                text.count >= prefix.count
                    && (prefix.count == 0 || EntryName.memcmpEqual(UnsafeBufferPointer(rebasing: text[..<prefix.count]), prefix))
            }
        }
    }

    /// Whether the text's UTF-8 bytes end with those of `suffix`.
    @inlinable
    public func endsWithBytes(_ suffix: String) -> Bool {
        EntryName.withBytes(of: self) { text in
            EntryName.withBytes(of: suffix) { suffix in
                text.count >= suffix.count
                    && (suffix.count == 0
                        || EntryName.memcmpEqual(UnsafeBufferPointer(rebasing: text[(text.count - suffix.count)...]), suffix))
            }
        }
    }

    /// Whether the text holds `byte`.
    @inlinable
    public func containsByte(_ byte: Unicode.Scalar) -> Bool {
        EntryName.withBytes(of: self) { $0.contains(UInt8(ascii: byte)) }
    }
}

extension StringProtocol {
    /// Whether the text's UTF-8 bytes start with those of `prefix`, as the
    /// kernel and the shell's globs see it (`hasPrefix` compares
    /// `Character`s: to it "/\u{301}x" does not start with "/").
    @inlinable
    public func startsWithBytes(_ prefix: String) -> Bool {
        utf8.starts(with: prefix.utf8)
    }

    /// Whether the text's UTF-8 bytes end with those of `suffix`.
    @inlinable
    public func endsWithBytes(_ suffix: String) -> Bool {
        let (text, tail) = (utf8, suffix.utf8)
        let count = tail.count
        guard text.count >= count else { return false }
        return text[text.index(text.endIndex, offsetBy: -count)...].elementsEqual(tail)
    }

    /// Whether the text's UTF-8 bytes hold those of `part` as a run
    /// (`contains` matches `Character`s, and canonically equivalent ones).
    public func containsBytes(_ part: String) -> Bool {
        utf8.firstRange(of: part.utf8) != nil
    }

    /// Whether the text holds `byte` (`contains("/")` looks for the
    /// `Character`, which a combining mark after the `/` changes).
    @inlinable
    public func containsByte(_ byte: Unicode.Scalar) -> Bool {
        utf8.contains(UInt8(ascii: byte))
    }
}

/// A name or path that compares and hashes by its UTF-8 bytes, as the
/// kernel keys them: the key for sets and dictionaries of paths (`String`
/// keys would merge "caf\u{e9}" and "cafe\u{301}", two entries on btrfs).
public struct ExactText: Hashable, Sendable, Comparable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let text: String

    @inlinable
    public init(_ text: String) { self.text = text }

    public init(stringLiteral value: String) { self.text = value }

    public var description: String { text }

    @inlinable
    public static func == (lhs: ExactText, rhs: ExactText) -> Bool { EntryName.sameBytes(lhs.text, rhs.text) }

    @inlinable
    public func hash(into hasher: inout Hasher) { EntryName.hashBytes(of: text, into: &hasher) }

    /// Byte order.
    public static func < (lhs: ExactText, rhs: ExactText) -> Bool {
        EntryName.precedesInBytes(lhs.text, rhs.text)
    }
}
