/// One decision of a schedule: which actor takes the next step, or which
/// fault happens instead.
public enum Choice: Hashable, Sendable, CustomStringConvertible {
    /// The actor (by index) makes its next call.
    case run(Int)
    /// The actor's process crashes before its next call.
    case crash(Int)
    /// The host crashes.
    case crashHost

    public var isFault: Bool {
        if case .run = self { return false }
        return true
    }

    /// `r2`, `c2`, `H`: the schedule's text form.
    public var description: String {
        switch self {
        case .run(let actor): "r\(actor)"
        case .crash(let actor): "c\(actor)"
        case .crashHost: "H"
        }
    }

    public init?(_ text: String) {
        if text == "H" {
            self = .crashHost
        } else if text.hasPrefix("r"), let actor = Int(text.dropFirst()) {
            self = .run(actor)
        } else if text.hasPrefix("c"), let actor = Int(text.dropFirst()) {
            self = .crash(actor)
        } else {
            return nil
        }
    }
}

/// A schedule in its text form: choices separated by blanks.
public enum ScheduleText {
    public static func format(_ choices: [Choice]) -> String {
        choices.map(\.description).joined(separator: " ")
    }

    /// One choice in its strict form (`r2`, `c2`, `H`: decimal digits, no
    /// sign), or nil.
    public static func choice(_ word: String) -> Choice? {
        if word == "H" { return .crashHost }
        guard let first = word.first, first == "r" || first == "c" else { return nil }
        let digits = word.dropFirst()
        guard !digits.isEmpty, digits.count <= 9,
            digits.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }), let index = Int(digits)
        else { return nil }
        return first == "r" ? .run(index) : .crash(index)
    }

    public static func parse(_ text: String) -> [Choice]? {
        let words = text.split(whereSeparator: \.isWhitespace)
        let choices = words.compactMap { Choice(String($0)) }
        return choices.count == words.count ? choices : nil
    }
}
