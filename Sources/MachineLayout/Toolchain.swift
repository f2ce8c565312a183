import FSProtocol

/// The name of a configured build toolchain, such as `default`.
///
/// Toolchain names appear inside entry names (`<m>-<tc>`, `<m>-<tc>-<rest>`,
/// `<m>-<tc>.lock`), so that every name parses without the configuration
/// they must start with an ASCII letter (so that neither a revision
/// `<m>-<N>` nor a later Build OS revision `<m>-<P>.<R>` reads as a
/// bootstrapped machine), hold no `-`, `/`, blank or control character, and
/// must not end in `.lock` (that would read as a lock file).
public struct Toolchain: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    public let rawValue: String

    /// A toolchain name, or nil when `rawValue` breaks the rules.
    public init?(rawValue: String) {
        guard Toolchain.isValid(rawValue.utf8) else { return nil }
        self.rawValue = rawValue
    }

    /// A toolchain from UTF-8 bytes, or nil when they break the rules.
    init?(bytes: UnsafeBufferPointer<UInt8>) {
        guard Toolchain.isValid(bytes), let text = String(validating: bytes, as: UTF8.self) else { return nil }
        rawValue = text
    }

    /// The toolchain Build OS configures with `buildos.toolchain_url`.
    public static let `default` = Toolchain(validated: "default")

    private init(validated: String) { rawValue = validated }

    static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    static func isASCIILetter(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
    }

    /// Whether the bytes make a toolchain name, in one pass.
    static func isValid<Bytes: BidirectionalCollection<UInt8>>(_ bytes: Bytes) -> Bool {
        guard let first = bytes.first, isASCIILetter(first) else { return false }
        for byte in bytes {
            if byte == UInt8(ascii: "-") || byte == UInt8(ascii: "/") || byte < 0x21 || byte == 0x7f { return false }
        }
        return !endsInLock(bytes)
    }

    /// Whether the bytes end in `.lock`.
    static func endsInLock<Bytes: BidirectionalCollection<UInt8>>(_ bytes: Bytes) -> Bool {
        var index = bytes.endIndex
        for expected in [UInt8(ascii: "k"), UInt8(ascii: "c"), UInt8(ascii: "o"), UInt8(ascii: "l"), UInt8(ascii: ".")] {
            guard index != bytes.startIndex else { return false }
            bytes.formIndex(before: &index)
            if bytes[index] != expected { return false }
        }
        return true
    }

    /// Why `name` is not a toolchain name, or nil when it is one.
    public static func problem(with name: String) -> String? {
        if isValid(name.utf8) { return nil }
        if name.isEmpty { return "empty toolchain name" }
        if name.containsByte("-") { return "toolchain name '\(name)' contains '-'" }
        if name.containsByte("/") { return "toolchain name '\(name)' contains '/'" }
        if let first = name.utf8.first, !isASCIILetter(first) {
            return "toolchain name '\(name)' does not start with an ASCII letter"
        }
        if name.endsWithBytes(".lock") { return "toolchain name '\(name)' ends in '.lock'" }
        return "toolchain name '\(name)' contains a blank or control character"
    }

    /// A configured name as a toolchain, or nil when it cannot be
    /// configured (`configurationProblem(with:)` says why).
    public init?(configured name: String) {
        guard Toolchain.configurationProblem(with: name) == nil else { return nil }
        rawValue = name
    }

    /// Why a configured name cannot be configured, or nil: a toolchain
    /// name (`problem(with:)`) without a character that no line could
    /// show as itself: a C1 control (U+0080 to U+009F), a line or paragraph
    /// separator, or any other Unicode blank (U+00A0, U+3000, ...). Entry
    /// names keep the byte grammar: such a bootstrapped machine is one of a
    /// toolchain never configured.
    public static func configurationProblem(with name: String) -> String? {
        if let problem = problem(with: name) { return problem }
        let unshowable = name.unicodeScalars.first { scalar in
            (0x80...0x9F).contains(scalar.value) || scalar.properties.isWhitespace
        }
        guard let unshowable else { return nil }
        return "toolchain name '\(name)' contains a blank or control character "
            + "(U+\(String(unshowable.value, radix: 16, uppercase: true)))"
    }

    public var description: String { rawValue }

    /// Bytes, as in entry names (`EntryName`): "gcc\u{e9}" and
    /// "gcce\u{301}" are two toolchains, as `m-gcc\u{e9}` and
    /// `m-gcce\u{301}` are two entries.
    public static func == (lhs: Toolchain, rhs: Toolchain) -> Bool {
        EntryName.sameBytes(lhs.rawValue, rhs.rawValue)
    }

    public func hash(into hasher: inout Hasher) {
        EntryName.hashBytes(of: rawValue, into: &hasher)
    }

    public static func < (lhs: Toolchain, rhs: Toolchain) -> Bool {
        EntryName.precedesInBytes(lhs.rawValue, rhs.rawValue)
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let toolchain = Toolchain(rawValue: text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: Toolchain.problem(with: text) ?? text))
        }
        self = toolchain
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// The toolchains configured on the host: their bootstrapped machines are
/// kept.
///
/// An empty set deletes every bootstrapped machine, so it exists only when
/// stated explicitly (`ToolchainSet.none`).
public struct ToolchainSet: Hashable, Sendable {
    /// The names, sorted, without duplicates.
    public let toolchains: [Toolchain]

    public init<Names: Sequence<Toolchain>>(_ toolchains: Names) {
        self.toolchains = Array(Set(toolchains)).sorted()
    }

    /// The explicit empty set.
    public static let none = ToolchainSet([])

    /// Whether the set holds `toolchain`: a binary search in the sorted
    /// names, as the planner asks once per bootstrapped machine.
    public func contains(_ toolchain: Toolchain) -> Bool {
        var low = 0
        var high = toolchains.count
        while low < high {
            let middle = (low + high) / 2
            if toolchains[middle] < toolchain { low = middle + 1 } else { high = middle }
        }
        return low < toolchains.count && toolchains[low] == toolchain
    }
    public var isEmpty: Bool { toolchains.isEmpty }
}

/// A toolchain configuration that is refused before anything is touched.
public struct ConfigurationError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

extension ToolchainSet {
    /// The set from the command line's sources: names given one by one, a
    /// Build OS kernel command line, or the explicit empty set. An empty
    /// result that was not stated explicitly is refused, as is any invalid
    /// name.
    public static func resolve(names: [String], kernelCommandLine: String?, explicitlyNone: Bool)
        throws(ConfigurationError) -> ToolchainSet
    {
        if explicitlyNone, !names.isEmpty || kernelCommandLine != nil {
            throw ConfigurationError("--no-toolchains cannot be combined with --toolchain or --kernel-cmdline")
        }
        if explicitlyNone { return .none }
        var toolchains: [Toolchain] = []
        for name in names {
            guard let toolchain = Toolchain(configured: name) else {
                throw ConfigurationError("invalid toolchain: \(Toolchain.configurationProblem(with: name) ?? name)")
            }
            toolchains.append(toolchain)
        }
        if let kernelCommandLine {
            toolchains += try KernelCommandLine.toolchains(in: kernelCommandLine)
        }
        if toolchains.isEmpty {
            let source = kernelCommandLine == nil ? "" : " (the kernel command line configures none)"
            throw ConfigurationError(
                "no toolchains configured\(source): every bootstrapped machine would be deleted; "
                    + "give --toolchain NAME, or --no-toolchains if that is intended")
        }
        return ToolchainSet(toolchains)
    }
}

/// Reading the toolchains from a Build OS kernel command line.
public enum KernelCommandLine {
    /// The parameter that configures the toolchain `default`; with a
    /// `.<name>` suffix it configures `<name>`.
    public static let toolchainParameter = "buildos.toolchain_url"

    /// A kernel command line that is refused, with the line of the
    /// parameter at fault (`/proc/cmdline` is one line).
    public struct Problem: Error, Hashable, Sendable, CustomStringConvertible {
        public var line: Int
        public var message: String

        public init(line: Int, message: String) {
            self.line = line
            self.message = message
        }

        public var description: String { "line \(line): \(message)" }
    }

    /// The toolchains a command line (such as `/proc/cmdline`) configures,
    /// in order of appearance, without duplicates.
    public static func toolchains(in commandLine: String) throws(ConfigurationError) -> [Toolchain] {
        do {
            return try parse(commandLine)
        } catch {
            throw ConfigurationError(error.message)
        }
    }

    /// The toolchains a command line configures, in order of appearance,
    /// without duplicates, in one pass. Refused: a toolchain parameter
    /// without a value (the toolchain's URL), an invalid toolchain name, an
    /// unterminated double quote, a NUL byte.
    public static func parse(_ commandLine: String) throws(Problem) -> [Toolchain] {
        var result: [Toolchain] = []
        var seen: Set<Toolchain> = []
        for parameter in try parameters(of: commandLine) {
            let (key, value) = keyAndValue(of: parameter.text)
            // A toolchain's name the kernel cut (the rest of the parameter
            // is another, which configures nothing): the toolchain Build OS
            // sees is not a name that can be written here.
            if let cutAt = parameter.cutAt, key.startsWithBytes(toolchainParameter), cutAt <= key.unicodeScalars.count {
                // Named up to the cut, and the character cut written out:
                // the piece itself is no text.
                // (The quotes the kernel drops are out of the key: up to
                // the piece, which the key holds as U+FFFD.)
                let before = String(String.UnicodeScalarView(key.unicodeScalars.prefix { $0 != "\u{FFFD}" }))
                let character = parameter.cut.map { scalar in
                    let hex = String(scalar.value, radix: 16, uppercase: true)
                    return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex + " (bytes "
                        + String(scalar).utf8.map { EntryName.hexEscape($0) }.joined() + ")"
                } ?? "a character"
                throw Problem(
                    line: parameter.line,
                    message: "kernel command line parameter '\(before)...' is cut by the kernel at \(character): "
                        + "byte 0xA0 is a blank to the kernel's isspace, so Build OS does not see the toolchain's "
                        + "name as written")
            }
            let name: String
            if key == toolchainParameter {
                name = Toolchain.default.rawValue
            } else if key.startsWithBytes(toolchainParameter + ".") {
                name = String(Substring(key.utf8.dropFirst(toolchainParameter.utf8.count + 1)))
            } else {
                continue
            }
            guard let toolchain = Toolchain(configured: name) else {
                throw Problem(
                    line: parameter.line,
                    message: "invalid toolchain in kernel command line parameter '\(key)': "
                        + (Toolchain.configurationProblem(with: name) ?? name))
            }
            guard let value, !value.isEmpty else {
                throw Problem(
                    line: parameter.line,
                    message: "kernel command line parameter '\(key)' has no value (the toolchain's URL)")
            }
            if seen.insert(toolchain).inserted { result.append(toolchain) }
        }
        return result
    }

    /// A parameter's name and value (nil without `=`), quotes dropped as
    /// the kernel's `next_arg` drops them: a quote that opens the
    /// parameter, one that opens its value, and then a quote that ends
    /// it. A quote inside the name stays part of the name
    /// (`a"b"c=x` names `a"b"c`).
    static func keyAndValue(of parameter: String) -> (key: String, value: String?) {
        var bytes = Array(parameter.utf8)[...]
        var quoted = false
        if bytes.first == UInt8(ascii: "\"") {
            bytes = bytes.dropFirst()
            quoted = true
        }
        let quote = UInt8(ascii: "\"")
        guard let equals = bytes.firstIndex(of: UInt8(ascii: "=")) else {
            if quoted, bytes.last == quote { bytes = bytes.dropLast() }
            return (String(decoding: bytes, as: UTF8.self), nil)
        }
        var value = bytes[(equals + 1)...]
        if value.first == quote {
            value = value.dropFirst()
            quoted = true
        }
        if quoted, value.last == quote { value = value.dropLast() }
        return (String(decoding: bytes[..<equals], as: UTF8.self), String(decoding: value, as: UTF8.self))
    }

    /// A parameter of the command line: its text, its line, and where the
    /// kernel cut a character of it at a 0xA0 byte (in scalars of `text`,
    /// which holds U+FFFD for the piece), and which character.
    struct Parameter {
        var text: String
        var line: Int
        var cutAt: Int?
        var cut: Unicode.Scalar?
    }

    /// The blank-separated parameters with their lines, quotes kept;
    /// double quotes keep blanks inside a parameter, as the kernel splits
    /// them.
    static func parameters(of commandLine: String) throws(Problem) -> [Parameter] {
        var parameters: [Parameter] = []
        var current = String.UnicodeScalarView()
        // Where the first piece of a character the kernel cut is (in
        // scalars), when the parameter holds one.
        var cutAt: Int?
        // The character cut there.
        var cut: Unicode.Scalar?
        var started = false
        var quoted = false
        var line = 1
        var start = 1
        /// Ends the parameter being read, if one is.
        func endParameter() {
            if started { parameters.append(Parameter(text: String(current), line: start, cutAt: cutAt, cut: cut)) }
            current = String.UnicodeScalarView()
            started = false
            cutAt = nil
            cut = nil
        }
        for scalar in commandLine.unicodeScalars {
            if scalar == "\0" {
                throw Problem(
                    line: line,
                    message: "NUL byte: not a kernel command line (/proc/cmdline separates parameters with blanks)")
            }
            if !started {
                start = line
            }
            if scalar == "\"" {
                quoted.toggle()
                started = true
                current.append(scalar)
                continue
            }
            // Byte 0xA0 is a blank too (the kernel's isspace reads Latin-1),
            // even inside a UTF-8 character ("à" is C3 A0): the kernel splits
            // there, and each piece holds bytes that are not UTF-8 (kept as
            // U+FFFD, and where the first one is).
            if !quoted, scalar.value >= 0x80, String(scalar).utf8.contains(0xA0) {
                var fragment = false
                for byte in String(scalar).utf8 {
                    if byte == 0xA0 {
                        endParameter()
                        fragment = false
                    } else if !fragment {
                        if !started { start = line }
                        if cutAt == nil {
                            cutAt = current.count
                            cut = scalar
                        }
                        current.append("\u{FFFD}")
                        started = true
                        fragment = true
                    }
                }
                continue
            }
            // The kernel's blanks (isspace): space, \t, \n, \v, \f, \r.
            if !quoted, scalar == " " || ("\t"..."\r").contains(scalar) {
                endParameter()
                if scalar == "\n" { line += 1 }
                continue
            }
            if scalar == "\n" { line += 1 }
            current.append(scalar)
            started = true
        }
        if quoted { throw Problem(line: start, message: "unterminated double quote in the kernel command line") }
        endParameter()
        return parameters
    }
}
